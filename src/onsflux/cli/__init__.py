"""The ``onsflux`` command line: thin — parse, call the library, show, map errors to exit codes.

Exit codes: 0 success; 1 a failure (error message on stderr, never a traceback);
2 usage error; 3 rows were rejected (pass ``--allow-rejects`` to accept that).
"""

from __future__ import annotations

from .app import app


def main() -> None:
    app(prog_name="onsflux")


__all__ = ["app", "main"]

if __name__ == "__main__":  # pragma: no cover
    main()
