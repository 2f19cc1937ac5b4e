"""Quoting for the text onsflux sends to InfluxDB. Pure: no I/O.

The query renderers (pure) and the InfluxDB admin calls (I/O) both quote names and
values; the rules live here so the renderer never imports the HTTP client to get them.
"""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes (``"`` and ``\\`` escaped)."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def quote_literal(value: str) -> str:
    """An InfluxQL string literal in single quotes (``'`` and ``\\`` escaped)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def predicate_string(value: str) -> str:
    """A double-quoted value in a v2 ``/api/v2/delete`` predicate (``_measurement="x"``)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
