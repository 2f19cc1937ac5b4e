"""The query engine: one QuerySpec, rendered to InfluxQL, Flux, SQL and Timestream SQL,
executed with retries and a circuit breaker, answered from Parquet when InfluxDB is down.

```
spec.py       QuerySpec (pure, JSON in and out, validated against the catalog)
render.py     Generator + InfluxQL / Flux / SQL (InfluxDB 3) / Timestream SQL dialects
guard.py      raw InfluxQL: SELECT/SHOW only, one statement
execute.py    Executor: InfluxQL over v1 /query, Flux over /api/v2/query, normalized rows
fallback.py   ParquetFallback: the same spec with polars over the ingest's files
templates.py  the three templates of the platform we replace
result.py     Row / QueryResult: the one result shape
```

Importing the package loads only the pure modules; ``Executor``, ``ParquetFallback``,
``flux_rows`` and ``influxql_rows`` (I/O) resolve lazily for older imports. New code
imports them from ``execute`` / ``fallback``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .guard import check_influxql
from .render import DIALECTS, Generator, Rendered, render, render_all
from .result import QueryResult, Row
from .spec import AGGREGATES, SAMPLE_INTERVAL, QuerySpec, duration_ns
from .templates import TEMPLATES, template

if TYPE_CHECKING:
    from .execute import Executor, flux_rows, influxql_rows
    from .fallback import ParquetFallback

__getattr__ = lazy_exports(__name__, {
    "Executor": "execute", "flux_rows": "execute", "influxql_rows": "execute",
    "ParquetFallback": "fallback",
})

__all__ = [
    "AGGREGATES",
    "DIALECTS",
    "SAMPLE_INTERVAL",
    "TEMPLATES",
    "Executor",
    "Generator",
    "ParquetFallback",
    "QueryResult",
    "QuerySpec",
    "Rendered",
    "Row",
    "check_influxql",
    "duration_ns",
    "flux_rows",
    "influxql_rows",
    "render",
    "render_all",
    "template",
]
