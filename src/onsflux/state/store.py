"""The state store: which objects were ingested, what was rejected, what died.

SQLite by default (one file under the state folder, safe for several processes through
WAL mode and short transactions). The interface is small so a DynamoDB implementation
can sit behind it in AWS.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from ..exceptions import ConfigError
from ..frames import REJECT_SCHEMA
from ..retry import RetryPolicy
from ..settings import Settings

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
    def dead_letters(self) -> list[DeadLetter]: ...
    def resolve_dead_letter(self, key: str) -> None: ...
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    rows INTEGER NOT NULL DEFAULT 0,
    points INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    time_min_ns INTEGER,
    time_max_ns INTEGER,
    measurements TEXT NOT NULL DEFAULT '[]',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    verified TEXT,
    started_at REAL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS rejects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    object_key TEXT NOT NULL,
    source TEXT NOT NULL,
    row INTEGER,
    "column" TEXT,
    value TEXT,
    reason TEXT NOT NULL,
    recorded_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rejects_by_object ON rejects(object_key);
CREATE TABLE IF NOT EXISTS dead_letters (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    first_failed_at REAL NOT NULL,
    last_failed_at REAL NOT NULL,
    resolved_at REAL
);
"""

_OBJECT_COLUMNS = (
    "key", "fingerprint", "status", "rows", "points", "rejected", "duplicates", "time_min_ns",
    "time_max_ns", "measurements", "attempts", "error", "verified", "started_at", "finished_at",
)


class SqliteFile:
    """One SQLite file shared by processes: WAL mode, short ``BEGIN IMMEDIATE`` writes.

    The base of every SQLite-backed store (objects here, migration partitions in
    ``migrate.state``), so they can live in the same file.
    """

    def __init__(self, path: str | Path, schema: str, *, timeout: float = 30) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=timeout,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(schema)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SqliteStateStore(SqliteFile):
    """State in one SQLite file; every method is one short transaction."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, _SCHEMA)

    @staticmethod
    def _record(row: tuple[Any, ...]) -> ObjectRecord:
        values = dict(zip(_OBJECT_COLUMNS, row, strict=True))
        values["measurements"] = json.loads(values["measurements"] or "[]")
        return ObjectRecord(**values)

    def get(self, key: str) -> ObjectRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(_OBJECT_COLUMNS)} FROM objects WHERE key = ?", (key,)
            ).fetchone()
        return self._record(row) if row else None

    def begin(self, key: str, fingerprint: str) -> ObjectRecord:
        """Mark ``key`` running and drop the rejects of its previous version."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                """INSERT INTO objects (key, fingerprint, status, attempts, started_at)
                   VALUES (?, ?, ?, 1, ?)
                   ON CONFLICT(key) DO UPDATE SET fingerprint = excluded.fingerprint,
                     status = excluded.status, attempts = objects.attempts + 1,
                     started_at = excluded.started_at, finished_at = NULL, error = NULL""",
                (key, fingerprint, RUNNING, now),
            )
            db.execute("DELETE FROM rejects WHERE object_key = ?", (key,))
        record = self.get(key)
        assert record is not None
        return record

    def finish(self, record: ObjectRecord) -> None:
        record.finished_at = time.time()
        values = record.as_dict()
        values["measurements"] = json.dumps(record.measurements)
        sets = ", ".join(f"{c} = :{c}" for c in _OBJECT_COLUMNS if c != "key")
        with self._tx() as db:
            db.execute(f"UPDATE objects SET {sets} WHERE key = :key", values)
            if record.status == OK:
                db.execute("UPDATE dead_letters SET resolved_at = ? WHERE key = ? "
                           "AND resolved_at IS NULL", (record.finished_at, record.key))

    def fail(self, key: str, fingerprint: str, kind: str, reason: str) -> None:
        """Record the object as failed and (re)open its dead letter."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE objects SET status = ?, error = ?, finished_at = ? WHERE key = ?",
                (FAILED, reason, now, key),
            )
            db.execute(
                """INSERT INTO dead_letters
                     (key, fingerprint, kind, reason, attempts, first_failed_at, last_failed_at)
                   VALUES (?, ?, ?, ?, 1, ?, ?)
                   ON CONFLICT(key) DO UPDATE SET fingerprint = excluded.fingerprint,
                     kind = excluded.kind, reason = excluded.reason,
                     attempts = CASE WHEN dead_letters.resolved_at IS NULL
                                THEN dead_letters.attempts + 1 ELSE 1 END,
                     first_failed_at = CASE WHEN dead_letters.resolved_at IS NULL
                                THEN dead_letters.first_failed_at ELSE excluded.first_failed_at END,
                     last_failed_at = excluded.last_failed_at, resolved_at = NULL""",
                (key, fingerprint, kind, reason, now, now),
            )

    def add_rejects(self, key: str, rejects: pl.DataFrame) -> None:
        if rejects.height == 0:
            return
        now = time.time()
        rows = rejects.select("source", "row", "column", "value", "reason").rows()
        with self._tx() as db:
            db.executemany(
                'INSERT INTO rejects (object_key, source, row, "column", value, reason, '
                "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(key, *r, now) for r in rows],
            )

    def clear_rejects(self, key: str) -> None:
        """Forget ``key``'s rejects (a new attempt records its own)."""
        with self._tx() as db:
            db.execute("DELETE FROM rejects WHERE object_key = ?", (key,))

    def rejects(self, key: str | None = None, limit: int | None = None) -> pl.DataFrame:
        sql = 'SELECT source, row, "column", value, reason FROM rejects'
        args: tuple[Any, ...] = ()
        if key is not None:
            sql += " WHERE object_key = ?"
            args = (key,)
        sql += " ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return pl.DataFrame(rows, schema=REJECT_SCHEMA, orient="row")

    def objects(self) -> list[ObjectRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_OBJECT_COLUMNS)} FROM objects ORDER BY key"
            ).fetchall()
        return [self._record(r) for r in rows]

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, fingerprint, kind, reason, attempts, first_failed_at, last_failed_at "
                "FROM dead_letters WHERE resolved_at IS NULL ORDER BY last_failed_at"
            ).fetchall()
        return [DeadLetter(*r) for r in rows]

    def resolve_dead_letter(self, key: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE dead_letters SET resolved_at = ? WHERE key = ?", (time.time(), key))


def open_store(location: str, *, region: str = "us-east-1", queue_url: str | None = None,
               endpoint_url: str | None = None, retry: RetryPolicy | None = None) -> StateStore:
    """Open the store named by ``ONSFLUX_STATE``: a SQLite path or ``dynamodb://TABLE``."""
    if location.startswith("dynamodb://"):
        table = location.removeprefix("dynamodb://").strip("/")
        if not table:
            raise ConfigError("ONSFLUX_STATE=dynamodb:// needs a table name: dynamodb://TABLE")
        from .dynamodb import DynamoStateStore

        return DynamoStateStore(table, region=region, queue_url=queue_url,
                                endpoint_url=endpoint_url, retry=retry)
    return SqliteStateStore(location)


def store_for(settings: Settings) -> StateStore:
    """The state store the settings name (SQLite by default, DynamoDB + SQS in AWS)."""
    return open_store(settings.state_path, region=settings.aws_region,
                      queue_url=settings.dlq_queue_url, retry=RetryPolicy.from_settings(settings))
