"""InfluxDB: the HTTP client, write-error parsing and the local server."""

from .client import (
    BucketInfo,
    CircuitBreaker,
    InfluxClient,
    ServerInfo,
    ServerKind,
    WriteOutcome,
    go_duration_seconds,
    parse_retry_after,
    quote_ident,
    quote_literal,
)
from .errors import WriteError, WriteErrorReport, parse_write_errors, parse_write_response
from .local import LocalServer, ServerHandle, resolve_url

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
