"""The state store: which objects were ingested, what was rejected, what died.

SQLite by default (one file under the state folder, safe for several processes through
WAL mode and short transactions). The interface is small so a DynamoDB implementation
can sit behind it in AWS.

Every ``sqlite3`` error (a folder where the file should be, a corrupted file, a full
disk, a read-only folder) is translated where it is raised into a ``StateStoreError``
naming the file and what to do, so no caller ever sees a foreign exception.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import polars as pl

from ..exceptions import ConfigError, StateStoreError
from ..frames import REJECT_SCHEMA
from ..redact import redact
from ..retry import RetryPolicy
from ..settings import Settings
from .base import FAILED, OK, RUNNING, DeadLetter, ObjectRecord, StateStore, redacted_rejects

__all__ = [  # the records and the contract live in base; re-exported for older imports
    "FAILED", "OK", "RUNNING", "DeadLetter", "ObjectRecord", "SqliteFile", "SqliteStateStore",
    "StateStore", "open_store", "redacted_rejects", "sqlite_error", "store_for",
]

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


def sqlite_error(exc: sqlite3.Error | OSError, path: Path) -> StateStoreError:
    """The ``StateStoreError`` for a foreign error on the state file ``path``: what broke
    and what to do, never a bare ``sqlite3`` message."""
    text = str(exc).lower()
    where = f"state store {path}"
    if isinstance(exc, OSError):
        parent = next((p for p in (path, *path.parents) if p.exists()), None)
        if parent is not None and not parent.is_dir():
            return StateStoreError(f"{where}: {parent} is a file, not a folder; point "
                                   "ONSFLUX_STATE_DIR (or --state-dir) at a folder")
        return StateStoreError(f"{where}: cannot create its folder "
                               f"({exc.strerror or type(exc).__name__})")
    if path.is_dir():
        return StateStoreError(f"{where} is a folder; ONSFLUX_STATE must name a file "
                               f"such as {path / 'state.sqlite'}")
    if "disk is full" in text or "disk i/o" in text:
        return StateStoreError(f"{where}: the disk is full (or failing); free space under "
                               f"{path.parent} and run the command again")
    if "not a database" in text or "malformed" in text or "encrypted" in text:
        return StateStoreError(f"{where} is not a readable SQLite database (corrupted?); "
                               "move it aside and run the command again to start a fresh one")
    if "readonly" in text or "read-only" in text:
        return StateStoreError(f"{where} is read-only; check the permissions of the file "
                               "and its folder")
    if "locked" in text or "busy" in text:
        return StateStoreError(f"{where} stayed locked by another process; retry when it "
                               "has finished")
    if "unable to open" in text:
        return StateStoreError(f"{where} cannot be opened; check that its folder exists "
                               "and is writable")
    return StateStoreError(f"{where}: SQLite refused: {exc}")


class _TranslatingLock:
    """The store's lock; leaving it with a ``sqlite3.Error`` raises ``StateStoreError``.

    Every read (``with self._lock``) and write (``_tx``) of a SQLite store goes through
    it, so translation happens where the error is raised — in this module and in the
    stores built on ``SqliteFile`` — without a try block per method.
    """

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._path = path

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._lock.release()
        if isinstance(exc, sqlite3.Error):
            raise sqlite_error(exc, self._path) from exc


class SqliteFile:
    """One SQLite file shared by processes: WAL mode, short ``BEGIN IMMEDIATE`` writes.

    The base of every SQLite-backed store (objects here, migration partitions in
    ``migrate.state``), so they can live in the same file.
    """

    def __init__(self, path: str | Path, schema: str, *, timeout: float = 30) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            if self.path.is_dir():
                raise sqlite_error(sqlite3.OperationalError("is a directory"), self.path)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise sqlite_error(exc, self.path) from exc
        self._lock = _TranslatingLock(self.path)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=timeout,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(schema)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path) from exc

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def ping(self) -> None:
        """A cheap check that the file is there and readable (``/health``)."""
        with self._lock:
            self._db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()

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
        record.error = redact(record.error) if record.error else record.error
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
        reason = redact(reason)
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
        rows = redacted_rejects(rejects).select("source", "row", "column", "value",
                                                "reason").rows()
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

    def objects_overlapping(self, measurement: str, start_ns: int, stop_ns: int
                            ) -> list[ObjectRecord]:
        """Ingested (``ok``) objects holding ``measurement`` with data in ``[start, stop)``."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_OBJECT_COLUMNS)} FROM objects WHERE status = ? "
                "AND time_max_ns >= ? AND time_min_ns < ? AND measurements LIKE ? ORDER BY key",
                (OK, start_ns, stop_ns, f'%{json.dumps(measurement)}%'),
            ).fetchall()
        return [r for r in map(self._record, rows) if measurement in r.measurements]

    def has_ingested(self) -> bool:
        """Whether any object was ingested (``ok``): one indexed row, not a count."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM objects WHERE status = ? LIMIT 1",
                                   (OK,)).fetchone()
        return row is not None

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
