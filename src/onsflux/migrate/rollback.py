"""Roll back: delete exactly what the migration wrote, series by series.

``run`` records, *before* each write, the series (tag sets) a partition is about to
write (:meth:`MigrationStore.add_series`). A rollback deletes, for each partition that
ran (done, failed or interrupted), those series only, in the partition's window — the
points ``written_min_ns <= time <= written_max_ns`` when the run finished, else the
whole window ``[start, stop)`` (a failed or killed run may have written part of it).
Series the migration never wrote — other series of the same measurement, or series a
killed run had not reached — are not touched, nor are other measurements, buckets or
time ranges. (Points *of a recorded series* in that window that came from elsewhere go
too: InfluxDB identifies a point by series and time, not by origin.)

- InfluxDB 1.x: ``DELETE FROM "m" WHERE ((tag = 'v' AND other = '') OR …) AND time >= a
  AND time < b`` — every tag key of the measurement is named, ``= ''`` for the ones the
  series lacks (InfluxQL's test for an absent tag), so a series with one more tag is
  not deleted with it; up to :data:`SERIES_PER_DELETE` series per statement.
- InfluxDB 2.x: ``/api/v2/delete`` with the predicate ``_measurement="m" AND tag="v"
  …`` per series (the predicate language has no "tag absent": a series with extra tags
  and the same values for these is deleted too).

A partition that ran before series were recorded (an older state file) and wrote
points is deleted by window, across every series of its measurement, as before; the
plan says so. Each deletion is recorded as an event and the partition becomes
``rolled_back`` (``run`` migrates it again; ``verify`` then expects it **absent**).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..influx.client import InfluxClient
from ..influx.rollup import uncover
from ..quoting import quote_ident, quote_literal
from .plan import Migration, iso
from .state import DONE, FAILED, PENDING, RUNNING, Partition

SERIES_PER_DELETE = 100

Series = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Deletion:
    partition: str
    bucket: str
    measurement: str
    start_ns: int
    stop_ns: int  # exclusive
    #: the series to delete; None: every series of the measurement (no series recorded)
    series: tuple[Series, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "bucket": self.bucket,
                "measurement": self.measurement, "start": iso(self.start_ns),
                "stop": iso(self.stop_ns), "start_ns": self.start_ns, "stop_ns": self.stop_ns,
                "series": None if self.series is None else len(self.series),
                "scope": "recorded series" if self.series is not None
                else "every series (none recorded)"}


def parse_series(text: str) -> Series:
    """A recorded series (``[[tag, value], …]``) as a sorted tuple of pairs."""
    return tuple(sorted((str(k), str(v)) for k, v in json.loads(text)))


def deletions(partitions: list[Partition], recorded: dict[str, list[str]] | None = None
              ) -> list[Deletion]:
    """What a rollback of ``partitions`` deletes (pure: nothing is done).

    ``recorded``: partition id → the series it recorded (JSON, see
    :meth:`MigrationStore.series`)."""
    out = []
    for p in partitions:
        if p.status not in (DONE, FAILED, RUNNING, PENDING):
            continue  # rolled back already
        if p.status == PENDING and p.attempts == 0:
            continue  # never ran: nothing written
        mine = (recorded or {}).get(p.id) or []
        if mine:
            series: tuple[Series, ...] | None = tuple(sorted({parse_series(s) for s in mine}))
        elif p.points > 0:
            series = None  # wrote before series were recorded: the whole window
        else:
            continue  # series are recorded before any write: nothing was written
        if p.status == DONE and p.written_min_ns is not None and p.written_max_ns is not None:
            start, stop = p.written_min_ns, p.written_max_ns + 1
        else:
            start, stop = p.start_ns, p.stop_ns
        out.append(Deletion(p.id, p.bucket, p.measurement, start, stop, series))
    return out


def planned(mig: Migration, partition_ids: list[str] | None = None) -> list[Deletion]:
    """:func:`deletions` for the migration's partitions (all, or the ones named), with
    the series each recorded."""
    parts = mig.partitions(partition_ids)
    return deletions(parts, {p.id: mig.store.series(mig.id, p.id) for p in parts})


def delete_statements(measurement: str, tag_keys: list[str], series: tuple[Series, ...],
                      start_ns: int, stop_ns: int) -> list[str]:
    """InfluxDB 1.x ``DELETE`` statements for ``series`` in ``[start, stop)`` (see the
    module docstring); pure."""
    out = []
    for i in range(0, len(series), SERIES_PER_DELETE):
        ors = []
        for s in series[i:i + SERIES_PER_DELETE]:
            have = dict(s)
            conds = [f"{quote_ident(k)} = {quote_literal(have.get(k, ''))}"
                     for k in sorted(set(tag_keys) | set(have))]
            if conds:
                ors.append("(" + " AND ".join(conds) + ")")
        where = f"time >= {int(start_ns)} AND time < {int(stop_ns)}"
        if ors:  # no tag key at all: the one series is the whole measurement
            where = f"({' OR '.join(ors)}) AND {where}"
        out.append(f"DELETE FROM {quote_ident(measurement)} WHERE {where}")
    return out


def _tag_keys(client: InfluxClient, bucket: str, measurement: str) -> list[str]:
    rows = client.query_points(f"SHOW TAG KEYS FROM {quote_ident(measurement)}", db=bucket)
    return [str(r["tagKey"]) for r in rows if r.get("tagKey")]


def rollback(mig: Migration, client: InfluxClient, plan: list[Deletion]) -> list[Deletion]:
    done = []
    for d in plan:
        # before the raw points go: hourly rollups of these hours would outlive them
        uncover(client, d.measurement, d.start_ns, d.stop_ns, bucket=d.bucket)
        if d.series is None:
            client.delete_range(d.bucket, d.measurement, d.start_ns, d.stop_ns)
        elif client.kind == "1.x":
            keys = _tag_keys(client, d.bucket, d.measurement)
            for sql in delete_statements(d.measurement, keys, d.series, d.start_ns, d.stop_ns):
                client.query(sql, db=d.bucket)
        else:
            for s in d.series:
                client.delete_range(d.bucket, d.measurement, d.start_ns, d.stop_ns,
                                    tags=dict(s))
        mig.store.mark_rolled_back(mig.id, d.partition, d.as_dict())
        done.append(d)
    return done
