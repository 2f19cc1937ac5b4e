"""Writes: line protocol to ``/write`` (1.x) or ``/api/v2/write`` (2.x, 3.x).

Builds the request (endpoint per server kind, gzip), sends it through the transport and
judges the answer: a full write, a *partial* one (some points dropped: ``WriteOutcome``
says which, from ``errors.parse_write_response``) or a refusal (``WriteRejected``).
Batching is the caller's (``ingest.encode.batches``); one call is one batch.
"""

from __future__ import annotations

import gzip as gzip_lib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ..exceptions import WriteRejected
from ..settings import Settings
from .errors import WriteError, parse_write_response, summarize
from .transport import AUTH_HINT, ServerKind, Transport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteOutcome:
    """The server accepted the write, maybe partly.

    ``status`` is 204/200 for a full write, 400/422 for a partial one; ``errors`` says
    which points were dropped and why (empty when everything was written); ``attempts``
    counts HTTP requests made; ``lines`` is what the caller said the body held.
    """

    status: int
    errors: list[WriteError] = field(default_factory=list)
    attempts: int = 1
    lines: int = 0
    #: the server wrote nothing of this batch (a 400 the caller turned into rejects)
    refused: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def dropped(self) -> int:
        """Points known to be dropped (1.6.7 may drop some silently: see ``errors.py``)."""
        return sum(e.dropped or 0 for e in self.errors)

    @property
    def written(self) -> int:
        return 0 if self.refused else max(self.lines - self.dropped, 0)


def endpoint(kind: ServerKind, bucket: str, org: str,
             rp: str | None = None) -> tuple[str, dict[str, str]]:
    """The write path and parameters: the one place v1 and v2/v3 differ for writes.
    ``rp``: a retention policy other than the database's default (1.x ``rp``; 2.x maps
    ``database/policy`` to a bucket)."""
    if kind == "1.x":
        return "/write", {"db": bucket, "precision": "ns", **({"rp": rp} if rp else {})}
    # 2.x, and 3.x through its v2-compatible endpoint (the database is the bucket)
    return "/api/v2/write", {"org": org, "bucket": f"{bucket}/{rp}" if rp else bucket,
                             "precision": "ns"}


class Writes:
    """Line-protocol writes to one server (``InfluxClient.write`` delegates here)."""

    def __init__(self, transport: Transport, settings: Settings,
                 kind: Callable[[], ServerKind], gzip: bool) -> None:
        self._t = transport
        self._settings = settings
        self._kind = kind
        self.gzip = gzip

    def write(self, bucket: str, body: bytes | memoryview, *, lines: int,
              rp: str | None = None) -> WriteOutcome:
        """Write line protocol (ns precision) to ``bucket`` (the database on 1.x; ``rp``: a
        retention policy other than its default).

        Returns a ``WriteOutcome``; a *partial* write (some points dropped, the others
        stored) does not raise: its ``errors`` say what was dropped. Raises
        ``WriteRejected`` when the server refused the request or wrote nothing (a body
        whose every line is unparseable, a type conflict on every line, 401/403, 404
        database not found, 413 body too large); ``errors.parse_write_errors(exc.body)``
        gives the per-line detail. Raises ``ServerUnavailable`` / ``CircuitOpen`` as
        ``transport`` says.
        """
        path, params = endpoint(self._kind(), bucket, self._settings.influxdb_org, rp)
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        payload: bytes | memoryview = body
        if self.gzip and body:
            payload = gzip_lib.compress(body, compresslevel=1, mtime=0)
            headers["Content-Encoding"] = "gzip"
        what = f"write {lines} line(s) to {bucket!r}"
        response, attempts = self._t.request(
            "POST", path, what=what, params=params, content=payload, headers=headers,
            bulk=True,
        )
        status = response.status_code
        if status in (200, 204):
            return WriteOutcome(status=status, errors=[], attempts=attempts, lines=lines)
        text = response.text
        if status in (400, 422):
            return self._judge_refusal(what, status, text, lines, attempts)
        if status in (401, 403):
            message = f"authentication failed: {AUTH_HINT}"
        elif status == 404:
            message = (
                f"database/bucket {bucket!r} not found ({self._t.brief(text, 200)}): "
                "create it first (ensure_database)"
            )
        elif status == 413:
            message = "request body too large: lower ONSFLUX_BATCH_BYTES / batch_lines"
        else:
            message = self._t.brief(text) or "no detail"
        raise WriteRejected(
            f"{what}: HTTP {status}: {message}", status=status, body=self._t.scrub(text)
        )

    def _judge_refusal(self, what: str, status: int, text: str, lines: int,
                       attempts: int) -> WriteOutcome:
        """A 400/422: a partial write (returned) or nothing written (raised)."""
        report = parse_write_response(text)
        everything = lines > 0 and report.dropped_total >= lines
        nothing_written = report.written == 0 or everything
        if report.partial and report.errors and not nothing_written:
            log.warning(
                "%s: partial write, %d point(s) dropped: %s",
                what, report.dropped_total, self._t.scrub(summarize(report.errors)),
            )
            return WriteOutcome(status=status, errors=report.errors, attempts=attempts, lines=lines)
        detail = self._t.scrub(summarize(report.errors)) if report.errors else self._t.brief(text)
        raise WriteRejected(
            f"{what}: InfluxDB rejected the write (HTTP {status}), nothing written: {detail}",
            status=status,
            body=self._t.scrub(text),
        )
