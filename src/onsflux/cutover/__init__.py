"""Blue-green cutover from Timestream (or the processed files) to InfluxDB.

```
backends.py   Backend: influxdb (green), timestream (boto3 timestream-query), files (polars)
state.py      phase, thresholds, audit trail, comparisons, mismatches: SQLite | DynamoDB
compare.py    the comparator (pure): outcomes, digests, bounded diffs
stats.py      consistency, noise floor, latency percentiles, error rates; sliding window
gate.py       the gate shift/promote must pass (pure) and the last migrate verify
shadow.py     bounded background queue: shadow runs off the request path
router.py     Router: serve by phase (sticky canary), shadow a sample, roll back by itself
control.py    Cutover: status / shadow / shift / promote / rollback / report
dualwrite.py  Timestream WriteRecords for ingest (--also-write timestream)
rehearse.py   onsflux cutover rehearse: the whole cutover locally, with a fault
```
"""

from .backends import BACKENDS, Backend, FilesBackend, InfluxBackend, TimestreamBackend, make_backend
from .compare import Comparison, IgnoreRules, Tolerance, compare_results, compare_rows
from .control import Cutover, GateRefused
from .router import Router, spec_hash
from .state import CutoverState, Thresholds, open_cutover_store

__all__ = [
    "BACKENDS",
    "Backend",
    "Comparison",
    "Cutover",
    "CutoverState",
    "FilesBackend",
    "GateRefused",
    "IgnoreRules",
    "InfluxBackend",
    "Router",
    "Thresholds",
    "TimestreamBackend",
    "Tolerance",
    "compare_results",
    "compare_rows",
    "make_backend",
    "open_cutover_store",
    "spec_hash",
]
