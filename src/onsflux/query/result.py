"""The one result shape every path returns: InfluxQL, Flux or the Parquet fallback.

Rows are ``{timestamp, measurement, field, value, tags}`` (the HTTP API's
``time_series_data``), ``timestamp`` in RFC 3339 UTC; ``time_ns`` keeps the exact
integer. A result says how many rows it has, whether it was truncated at the spec's
limit, where it was served from and what query produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..frames import rfc3339

#: which engine answered: InfluxDB, its Parquet fallback, or a cutover backend (blue)
ServedFrom = Literal["influxdb", "s3_fallback", "timestream", "files"]


@dataclass(frozen=True)
class Row:
    time_ns: int
    measurement: str
    field: str
    value: float | None
    tags: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"timestamp": rfc3339(self.time_ns), "measurement": self.measurement,
                "field": self.field, "value": self.value, "tags": dict(self.tags)}

    def key(self) -> tuple[Any, ...]:
        return (self.field, tuple(sorted(self.tags.items())), self.time_ns)


@dataclass
class QueryResult:
    rows: list[Row]
    truncated: bool
    served_from: ServedFrom
    dialect: str
    query: str
    elapsed_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "row_count": self.row_count,
            "truncated": self.truncated,
            "served_from": self.served_from,
            "query_used": {"dialect": self.dialect, "text": self.query},
            "elapsed_ms": round(self.elapsed_ms, 2),
            "warnings": list(self.warnings),
            "time_series_data": [r.as_dict() for r in self.rows],
        }


def bound(rows: list[Row], limit: int) -> tuple[list[Row], bool]:
    """``rows`` cut to ``limit``; True when rows were cut (the query fetched ``limit + 1``)."""
    return (rows[:limit], True) if len(rows) > limit else (rows, False)
