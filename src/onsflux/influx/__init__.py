"""InfluxDB: the HTTP client, write-error parsing and the local server.

Importing the package loads nothing that does I/O; the names below resolve lazily to
their modules (``client``, ``local``) for older imports. New code imports the module
that defines a name (``from onsflux.influx.client import InfluxClient``).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from ..durations import go_duration_seconds
from ..quoting import quote_ident, quote_literal
from .errors import WriteError, WriteErrorReport, parse_write_errors, parse_write_response

if TYPE_CHECKING:
    from .client import (
        BucketInfo,
        CircuitBreaker,
        InfluxClient,
        ServerInfo,
        ServerKind,
        WriteOutcome,
        parse_retry_after,
    )
    from .local import LocalServer, ServerHandle, resolve_url

_LAZY = {
    "BucketInfo": "client",
    "CircuitBreaker": "client",
    "InfluxClient": "client",
    "ServerInfo": "client",
    "ServerKind": "client",
    "WriteOutcome": "client",
    "parse_retry_after": "client",
    "LocalServer": "local",
    "ServerHandle": "local",
    "resolve_url": "local",
}
__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "BucketInfo",
    "CircuitBreaker",
    "InfluxClient",
    "LocalServer",
    "ServerHandle",
    "ServerInfo",
    "ServerKind",
    "WriteError",
    "WriteErrorReport",
    "WriteOutcome",
    "go_duration_seconds",
    "parse_retry_after",
    "parse_write_errors",
    "parse_write_response",
    "quote_ident",
    "quote_literal",
    "resolve_url",
]
