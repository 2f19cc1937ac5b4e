"""``onsflux mcp``: the Model Context Protocol server on stdin/stdout (for assistants)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from ._common import friendly, settings

    @app.command("mcp")
    @friendly
    def mcp_cmd() -> None:
        """Serve the MCP tools ask, query and describe over stdio (read-only; see README).

        Started by an MCP client (Claude Desktop, an IDE, an agent), not by hand: stdout
        carries the protocol, messages go to stderr.
        """
        from ..mcp import run_stdio

        run_stdio(settings())
