"""``onsflux mcp``: the Model Context Protocol front door (stdio), for assistants.

See ``server.py``; ``build_server`` makes the server, ``run_stdio`` serves it.
"""

from __future__ import annotations

from .server import MAX_ROWS, MAX_TAG_VALUES, build_server, run_stdio

__all__ = ["MAX_ROWS", "MAX_TAG_VALUES", "build_server", "run_stdio"]
