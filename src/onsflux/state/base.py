"""What every state store shares: the records, their status values and the contract.

``store.py`` (SQLite) and ``dynamodb.py`` (DynamoDB + SQS) both implement
:class:`StateStore` on these records; neither imports the other (``store.open_store``
picks one), and the contract tests run the same cases against both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import polars as pl

from ..redact import redact

# object status values
RUNNING = "running"
OK = "ok"
FAILED = "failed"


@dataclass
class ObjectRecord:
    key: str
    fingerprint: str
    status: str
    rows: int = 0
    points: int = 0
    rejected: int = 0
    duplicates: int = 0
    time_min_ns: int | None = None
    time_max_ns: int | None = None
    measurements: list[str] = field(default_factory=list)
    attempts: int = 0
    error: str | None = None
    verified: str | None = None
    started_at: float | None = None
    finished_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeadLetter:
    key: str
    fingerprint: str
    kind: str
    reason: str
    attempts: int
    first_failed_at: float
    last_failed_at: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class StateStore(Protocol):
    def get(self, key: str) -> ObjectRecord | None: ...
    def begin(self, key: str, fingerprint: str) -> ObjectRecord: ...
    def finish(self, record: ObjectRecord) -> None: ...
    def fail(self, key: str, fingerprint: str, kind: str, reason: str) -> None: ...
    def add_rejects(self, key: str, rejects: pl.DataFrame) -> None: ...
    def clear_rejects(self, key: str) -> None: ...
    def rejects(self, key: str | None = None, limit: int | None = None) -> pl.DataFrame: ...
    def objects(self) -> list[ObjectRecord]: ...
    def objects_overlapping(self, measurement: str, start_ns: int, stop_ns: int
                            ) -> list[ObjectRecord]: ...
    def ping(self) -> None: ...
    def has_ingested(self) -> bool: ...
    def dead_letters(self) -> list[DeadLetter]: ...
    def resolve_dead_letter(self, key: str) -> None: ...
    def close(self) -> None: ...


def redacted_rejects(rejects: pl.DataFrame) -> pl.DataFrame:
    """Reject reasons can quote a server's error text, which may echo credentials."""
    return rejects.with_columns(pl.col("reason").map_elements(redact, return_dtype=pl.String))
