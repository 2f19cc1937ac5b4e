"""``InfluxClient``: one InfluxDB server (1.x, 2.x or 3.x), the facade over the pieces.

```
transport.py   Transport: httpx pool, auth, retry, circuit breaker (the only sender)
write.py       Writes: /write | /api/v2/write, gzip, partial-write outcomes
query.py       Queries: InfluxQL over /query, Flux over /api/v2/query
admin.py       Admin: databases, buckets, retention, deletes (v1/v2/v3 per table)
errors.py      pure parsing of write-error bodies      ../quoting.py  pure quoting
```

The client detects the server from ``/ping`` (or takes ``server_kind``) and hands the
kind to each piece; its methods are the ones the rest of onsflux has always called, so
code written against it keeps working. The resilience policy is ``transport``'s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Unpack

from .. import catalog
from ..durations import go_duration_seconds
from ..exceptions import ConfigError
from ..quoting import quote_ident, quote_literal
from ..settings import Settings
from .admin import RP_NAME, Admin, BucketInfo
from .query import Queries
from .transport import (
    AUTH_HINT,
    CircuitBreaker,
    ServerKind,
    Transport,
    TransportOptions,
    is_loopback,
    parse_retry_after,
)
from .write import WriteOutcome, Writes

log = logging.getLogger(__name__)

__all__ = [  # quoting, durations and the pieces' types are re-exported for older imports
    "RP_NAME", "BucketInfo", "CircuitBreaker", "InfluxClient", "ServerInfo", "ServerKind",
    "WriteOutcome", "go_duration_seconds", "parse_retry_after", "quote_ident", "quote_literal",
]


@dataclass(frozen=True)
class ServerInfo:
    """What ``/ping`` says about the server."""

    url: str
    kind: ServerKind
    version: str
    build: str


def kind_of(version: str, build: str) -> ServerKind | None:
    """The server kind from ``/ping``'s version and build headers (``None``: unknown)."""
    v = version.strip().lstrip("vV")
    if v.startswith("1."):
        return "1.x"
    if v.startswith("2."):
        return "2.x"
    if v.startswith("3.") or build.strip().lower() in {"core", "enterprise"}:
        return "3.x"
    return None


class InfluxClient:
    """One InfluxDB server, reached over HTTP (see ``transport`` for the policy).

    ``url``: the server (``resolve_url(settings)`` finds it); credentials in it are used
    as basic auth and never shown. ``sleep``, ``clock`` and ``rng`` are injectable for
    tests; ``transport`` replaces the network (``httpx.MockTransport``); ``server_kind``
    skips ``/ping`` detection; ``breaker`` shares one breaker between clients.
    """

    def __init__(self, settings: Settings, url: str, *, server_kind: ServerKind | None = None,
                 **options: Unpack[TransportOptions]) -> None:
        self.settings = settings
        self._t = Transport(settings, url, **options)
        self._t.kind = server_kind
        self.url = self._t.url
        self.breaker = self._t.breaker
        self._info: ServerInfo | None = None
        self._forced_kind = server_kind
        self._info_lock = threading.Lock()
        gzip = settings.gzip == "on" or (settings.gzip == "auto" and not is_loopback(self._t.host))
        self._writes = Writes(self._t, settings, lambda: self.kind, gzip)
        self._queries = Queries(self._t, settings)
        self._admin = Admin(self._t, settings, self._queries, lambda: self.kind)

    def __repr__(self) -> str:
        kind = self._info.kind if self._info else self._forced_kind
        return f"InfluxClient(url={self.url!r}, kind={kind!r}, auth={self._t.auth_mode()!r})"

    def __enter__(self) -> InfluxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._t.close()

    @property
    def gzip(self) -> bool:
        """Whether write bodies are gzipped (``settings.gzip``; auto: not on loopback)."""
        return self._writes.gzip

    # ------------------------------------------------------------------ ping

    def ping(self, *, refresh: bool = False) -> ServerInfo:
        """Detect the server from ``/ping`` headers (cached; ``refresh`` asks again)."""
        with self._info_lock:
            if self._info is not None and not refresh:
                return self._info
            response, _ = self._t.request("GET", "/ping", what="ping")
            if response.status_code in (401, 403):
                raise ConfigError(
                    f"InfluxDB at {self.url} refused the credentials (HTTP "
                    f"{response.status_code}): {AUTH_HINT}"
                )
            if response.status_code not in (200, 204):
                raise ConfigError(
                    f"{self.url}/ping answered HTTP {response.status_code}: is this InfluxDB?"
                )
            version = response.headers.get("X-Influxdb-Version", "")
            build = response.headers.get("X-Influxdb-Build", "")
            if not version and response.content:
                try:  # InfluxDB 3 also answers with a JSON body
                    doc = response.json()
                    version = str(doc.get("version", "")) if isinstance(doc, dict) else ""
                except ValueError:
                    pass
            kind = self._forced_kind or kind_of(version, build)
            if kind is None:
                kind = "2.x" if self.settings.influxdb_token is not None else "1.x"
                log.warning(
                    "%s did not say its version (%r); assuming InfluxDB %s", self.url, version, kind
                )
            self._info = ServerInfo(url=self.url, kind=kind, version=version.lstrip("vV"),
                                    build=build)
            self._t.kind = kind
            return self._info

    @property
    def kind(self) -> ServerKind:
        if self._forced_kind is not None:
            return self._forced_kind
        return self.ping().kind

    # ------------------------------------------------------------------ the pieces

    def write(self, bucket: str, body: bytes | memoryview, *, lines: int,
              rp: str | None = None) -> WriteOutcome:
        """Write line protocol to ``bucket`` (``rp``: not its default retention policy);
        see ``write.Writes.write``."""
        return self._writes.write(bucket, body, lines=lines, rp=rp)

    def query(
        self, q: str, *, db: str | None = None, params: Mapping[str, str] | None = None,
        method: Literal["GET", "POST"] = "POST",
    ) -> list[dict[str, Any]]:
        """Run InfluxQL through ``/query``; see ``query.Queries.query``."""
        return self._queries.query(q, db=db, params=params, method=method)

    def query_flux(self, flux: str, *, what: str = "flux query") -> str:
        """Run Flux through ``/api/v2/query`` (2.x) and return the annotated CSV."""
        return self._queries.query_flux(flux, what=what)

    def query_points(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """``query`` flattened: one dict per row, ``{time, <tags>..., <columns>...}``."""
        return self._queries.query_points(q, db)

    def ensure_database(self, bucket: str, retention: str = catalog.RETENTION) -> BucketInfo:
        """Make sure ``bucket`` exists with ``retention``; see ``admin.Admin.ensure_database``."""
        return self._admin.ensure_database(bucket, retention)

    def retention_policies(self, bucket: str) -> list[dict[str, Any]]:
        """``SHOW RETENTION POLICIES`` as rows (1.x)."""
        return self._admin.retention_policies(bucket)

    def delete_range(self, bucket: str, measurement: str, start_ns: int, stop_ns: int,
                     tags: Mapping[str, str] | None = None) -> None:
        """Delete points of ``measurement`` with ``start_ns <= time < stop_ns`` (and tags)."""
        self._admin.delete_range(bucket, measurement, start_ns, stop_ns, tags)
