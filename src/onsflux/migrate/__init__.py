"""Timestream → InfluxDB with zero data loss: plan, run, verify, roll back, keep in sync.

The front door is :class:`Migration` (settings + source + mapping + state)::

    mig = Migration(settings, "exports/", "mapping.toml")
    plan = mig.plan(); mig.save(plan)          # explore, cut into partitions, record
    summary = run(mig, workers=2)              # idempotent, resumable
    report = verify(mig, client)               # count/sum per series and field, sampled timestamps
    rollback(mig, client, planned(mig))            # the series each partition wrote
    sync(mig, client, once=True)               # timestream:// sources only
"""

from .mapping import Mapped, Mapping, TableMapping, default_mapping, map_frame
from .plan import Migration, Plan, choose_window, load_mapping
from .rollback import Deletion, deletions, planned, rollback
from .run import RunSummary, run, run_partition
from .state import MigrationStore, Partition
from .sync import SyncReport, sync
from .verify import Mismatch, VerifyReport, compare, verify

__all__ = [
    "Deletion",
    "Mapped",
    "Mapping",
    "Migration",
    "MigrationStore",
    "Mismatch",
    "Partition",
    "Plan",
    "RunSummary",
    "SyncReport",
    "TableMapping",
    "VerifyReport",
    "choose_window",
    "compare",
    "default_mapping",
    "deletions",
    "load_mapping",
    "map_frame",
    "planned",
    "rollback",
    "run",
    "run_partition",
    "sync",
    "verify",
]
