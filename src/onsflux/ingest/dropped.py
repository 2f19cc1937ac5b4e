"""What the server refused or dropped from a batch, as rejects naming rows. Shared by the
ingest pipeline and the migration, which write batches the same way.

``write_batch`` turns a 400 that refused a whole batch for data reasons (type conflict,
parse error, retention) into a ``WriteOutcome`` with ``refused=True``: those are the
rows' faults, reported per row, and the object or partition goes on. Anything else (auth,
404, the server down after retries) still raises and fails the unit of work.

``server_rejects`` maps a partial write back to the batch's rows: a field type conflict
drops every line carrying that field, retention drops the oldest points, a parse error
names its line. When the rows found do not match the count the server gave, the rejects
say so with an unknown row rather than blaming the wrong ones.
"""

from __future__ import annotations

import time

import polars as pl

from .. import metrics
from ..exceptions import OnsfluxError, WriteRejected
from ..frames import REJECT_SCHEMA, ROW, TIME, make_rejects
from ..influx.client import InfluxClient, WriteOutcome
from ..influx.errors import WriteError, parse_write_errors


def write_batch(client: InfluxClient, bucket: str, body: bytes | memoryview, lines: int) -> WriteOutcome:
    """Write one batch; its latency, retries and failures go to the shared metrics."""
    started = time.perf_counter()
    try:
        outcome = client.write(bucket, body, lines=lines)
        metrics.inc("onsflux_influx_write_retries_total", outcome.attempts - 1)
        return outcome
    except WriteRejected as exc:
        metrics.inc("onsflux_influx_write_errors_total")
        errors = parse_write_errors(exc.body) if exc.status in (400, 422) else []
        if not errors:
            raise
        return WriteOutcome(status=exc.status or 400, errors=errors, lines=lines, refused=True)
    except OnsfluxError:
        metrics.inc("onsflux_influx_write_errors_total")
        raise
    finally:
        metrics.observe("onsflux_influx_write_seconds", time.perf_counter() - started)
        breaker = getattr(client, "breaker", None)  # test doubles may have none
        if breaker is not None:
            metrics.breaker_state(breaker.state)


def _rows_for(err: WriteError, frame: pl.DataFrame, lines: pl.Series) -> pl.Series | None:
    if err.kind == "field_type_conflict" and err.field and err.field in frame.columns:
        return frame.filter(pl.col(err.field).is_not_null())[ROW]
    if err.kind == "beyond_retention" and err.dropped:
        return frame.sort(TIME).head(err.dropped)[ROW]
    if err.kind == "unable_to_parse" and err.line:
        return frame.filter(lines == err.line)[ROW]
    return None


def server_rejects(source: str, frame: pl.DataFrame, lines: pl.Series,
                   outcome: WriteOutcome) -> pl.DataFrame:
    """Rejects for the points ``outcome`` says were not written (``frame``/``lines``: the
    batch's rows, with ``_row`` and ``time``, and its encoded lines, in the same order)."""
    if not outcome.errors:
        return pl.DataFrame(schema=REJECT_SCHEMA)
    if outcome.refused:
        reason = "server refused the whole batch: " + "; ".join(
            e.summary() for e in outcome.errors)
        return make_rejects(source, frame[ROW], "*", None, reason)
    parts: list[pl.DataFrame] = []
    for err in outcome.errors:
        reason = f"server dropped the point: {err.summary()}"
        rows = _rows_for(err, frame, lines)
        if rows is not None and rows.len() and (err.dropped is None or rows.len() == err.dropped):
            parts.append(make_rejects(source, rows, err.field or "*", None, reason))
            continue
        count = err.dropped or 1
        first, last = frame[ROW].min(), frame[ROW].max()
        reason += f" (somewhere in rows {first!s}-{last!s}; the server did not say which)"
        parts.append(make_rejects(source, pl.repeat(None, count, dtype=pl.UInt64, eager=True).alias(""),
                                  err.field or "*", [err.line] * count, reason))
    return pl.concat(parts)
