"""Every error onsflux raises, in one small tree.

```
OnsfluxError                      root: catch this to catch everything of ours
├── TerminalError                 retrying the same thing cannot help
│   ├── ConfigError               bad settings or flags
│   ├── CatalogError              unknown bucket/measurement/field/tag value
│   ├── SourceError               a file or object cannot be read or understood
│   │   └── SchemaError           columns missing, misspelled or of the wrong type
│   │       └── ParallelSeries    a file would store a quantity already stored under another key
│   ├── EncodeError               a value cannot be written as line protocol
│   ├── WriteRejected             the server refused data (400: parse error, type conflict)
│   ├── QueryError                the server refused a query (syntax, unknown database, auth)
│   │   └── InvalidQuery          refused before reaching a server: bad spec, not read-only
│   │       └── UnsupportedError  a dialect cannot express a feature of the query
│   ├── LocalServerError          the local influxd could not be started or stopped
│   └── StateStoreError           the state store refused (missing table, no permission)
└── TransientError                the same call may succeed later: retried, then dead-lettered
    ├── ServerUnavailable         connection refused/reset, 5xx, 429, timeouts, throttling
    ├── CircuitOpen               the breaker is open: we do not even try
    └── ObjectBusy                another worker holds a fresh claim on the same object
```

Third-party errors (httpx, pyarrow, botocore) are translated at the edge into the most
specific of these with ``raise ... from exc`` (botocore's in one place, ``onsflux.aws``),
so callers never match on foreign types.
Only ``TransientError`` is retried; a ``TerminalError`` is recorded and reported.
Code asks the error, not its type name or message: ``exc.retryable`` is true exactly on
the transient branch (``onsflux.retry`` retries on it; the Lambda handlers re-raise on it).
"""

from __future__ import annotations


class OnsfluxError(Exception):
    """Root of every onsflux error."""

    #: short machine-readable kind, used in JSON output and the dead-letter table
    kind: str = "error"
    #: may the same call succeed later? (true on the TransientError branch only)
    retryable: bool = False


class TerminalError(OnsfluxError):
    """Retrying cannot help: fix the input or the configuration."""

    kind = "terminal"


class TransientError(OnsfluxError):
    """The same call may succeed later (server down, overloaded, timed out)."""

    kind = "transient"
    retryable = True


class ConfigError(TerminalError):
    kind = "config"


class CatalogError(TerminalError):
    kind = "catalog"


class SourceError(TerminalError):
    """A file or object cannot be read; ``path`` says which."""

    kind = "source"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class SchemaError(SourceError):
    """The columns do not match any input format the catalog knows."""

    kind = "schema"


class ParallelSeries(SchemaError):
    """The file's tags would store a quantity already stored under another series key."""

    kind = "parallel_series"


class EncodeError(TerminalError):
    kind = "encode"


class WriteRejected(TerminalError):
    """The server answered 4xx to a write; ``body`` is its error text."""

    kind = "write_rejected"

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        self.status = status
        self.body = body
        super().__init__(message)


class QueryError(TerminalError):
    """InfluxDB refused a query or a statement's result carries an ``error``."""

    kind = "query"

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        self.status = status
        self.body = body
        super().__init__(message)

    @property
    def database_missing(self) -> bool:
        """The database does not exist (yet): nothing was ingested there, not a failure."""
        return "database not found" in str(self)


class InvalidQuery(QueryError):
    """A query spec or raw query was refused before reaching any server (bad or unsafe)."""

    kind = "invalid_query"


class UnsupportedError(InvalidQuery):
    """A query dialect cannot express a feature of the query; ``dialect`` says which."""

    kind = "unsupported"

    def __init__(self, message: str, *, dialect: str | None = None) -> None:
        self.dialect = dialect
        super().__init__(f"{dialect}: {message}" if dialect else message)


class LocalServerError(TerminalError):
    kind = "local_server"


class StateStoreError(TerminalError):
    kind = "state_store"


class ServerUnavailable(TransientError):
    """Connection refused, 5xx, 429 or timeout; ``retry_after`` in seconds when the server said."""

    kind = "unavailable"

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class CircuitOpen(TransientError):
    kind = "circuit_open"


class ObjectBusy(TransientError):
    """Another worker is ingesting the same object right now (S3 delivers at least once)."""

    kind = "busy"
