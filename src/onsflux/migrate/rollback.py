"""Roll back: delete exactly what the migration wrote, partition by partition.

For each partition that ran (done, failed or interrupted), delete from its measurement
in its bucket the points with ``written_min_ns <= time <= written_max_ns`` when the run
recorded them, else the partition's whole window ``[start, stop)`` (a failed or killed
run may have written part of it). InfluxDB 1.x: ``DELETE FROM "m" WHERE time >= a AND
time < b`` (``InfluxClient.delete_range``; 2.x: ``/api/v2/delete`` with the measurement
predicate). Other measurements, other buckets and other time ranges are not touched;
points of *the same* measurement in those ranges that did not come from the migration
would be deleted too (InfluxDB deletes by range, not by origin) — ``plan`` reports the
ranges, so check before confirming. Each deletion is recorded as an event and the
partition becomes ``rolled_back`` (``run`` migrates it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..influx.client import InfluxClient
from .plan import Migration, iso
from .state import DONE, FAILED, PENDING, RUNNING, Partition


@dataclass(frozen=True)
class Deletion:
    partition: str
    bucket: str
    measurement: str
    start_ns: int
    stop_ns: int  # exclusive

    def as_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "bucket": self.bucket,
                "measurement": self.measurement, "start": iso(self.start_ns),
                "stop": iso(self.stop_ns), "start_ns": self.start_ns, "stop_ns": self.stop_ns}


def deletions(partitions: list[Partition]) -> list[Deletion]:
    """What a rollback of ``partitions`` deletes (pure: nothing is done)."""
    out = []
    for p in partitions:
        if p.status == PENDING and p.attempts == 0:
            continue  # never ran: nothing written
        if p.status == DONE and p.written_min_ns is not None and p.written_max_ns is not None:
            out.append(Deletion(p.id, p.bucket, p.measurement, p.written_min_ns,
                                p.written_max_ns + 1))
        elif p.status in (DONE, FAILED, RUNNING, PENDING):
            if p.status == DONE and p.points == 0:
                continue
            out.append(Deletion(p.id, p.bucket, p.measurement, p.start_ns, p.stop_ns))
    return out


def rollback(mig: Migration, client: InfluxClient, plan: list[Deletion]) -> list[Deletion]:
    done = []
    for d in plan:
        client.delete_range(d.bucket, d.measurement, d.start_ns, d.stop_ns)
        mig.store.mark_rolled_back(mig.id, d.partition, d.as_dict())
        done.append(d)
    return done
