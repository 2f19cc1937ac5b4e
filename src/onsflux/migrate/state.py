"""Migration state: plans, partitions, events and sync watermarks in the SQLite state file.

Same file as :mod:`onsflux.state.store` (``settings.state_path``), own tables, WAL mode,
one short ``BEGIN IMMEDIATE`` transaction per method, so any number of worker processes
can share it. A migration is identified by its normalized source (a folder, an
``s3://`` prefix or ``timestream://db[/table]``).

Partition life cycle::

    pending ──claim──► running ──► done ──rollback──► rolled_back ──(run)──► running …
                          │  └───► failed ──(run again)──► running
                          └── owner died (SIGKILL, lost host): reclaimed by the next run

A claim is a conditional ``UPDATE`` (only one process wins a partition). ``owner`` is
``host:pid``; a running partition whose owner process no longer exists on this host, or
whose claim is older than ``lease_seconds``, is reclaimable.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..redact import redact
from ..state.store import SqliteFile

PENDING, RUNNING, DONE, FAILED, ROLLED_BACK = "pending", "running", "done", "failed", "rolled_back"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS migrations (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    mapping TEXT NOT NULL,
    window_ns INTEGER NOT NULL,
    plan TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS migration_partitions (
    migration TEXT NOT NULL,
    id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    bucket TEXT NOT NULL,
    measurement TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    stop_ns INTEGER NOT NULL,
    files TEXT NOT NULL DEFAULT '[]',
    est_rows INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL DEFAULT 'plan',
    status TEXT NOT NULL,
    owner TEXT,
    claimed_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    source_rows INTEGER NOT NULL DEFAULT 0,
    points INTEGER NOT NULL DEFAULT 0,
    field_values INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    null_measures INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    superseded INTEGER NOT NULL DEFAULT 0,
    duplicate_examples TEXT NOT NULL DEFAULT '[]',
    written_min_ns INTEGER,
    written_max_ns INTEGER,
    checksum TEXT,
    error TEXT,
    verified TEXT,
    started_at REAL,
    finished_at REAL,
    PRIMARY KEY (migration, id)
);
CREATE TABLE IF NOT EXISTS migration_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    migration TEXT NOT NULL,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    partition_id TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS migration_aggregates (
    migration TEXT NOT NULL,
    id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    files TEXT NOT NULL DEFAULT '[]',
    stats BLOB NOT NULL,
    PRIMARY KEY (migration, id)
);
CREATE TABLE IF NOT EXISTS migration_series (
    migration TEXT NOT NULL,
    id TEXT NOT NULL,
    series TEXT NOT NULL,
    PRIMARY KEY (migration, id, series)
);
CREATE TABLE IF NOT EXISTS migration_watermarks (
    migration TEXT NOT NULL,
    table_name TEXT NOT NULL,
    watermark_ns INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (migration, table_name)
);
"""


@dataclass
class Partition:
    migration: str
    id: str
    table_name: str
    bucket: str
    measurement: str
    start_ns: int
    stop_ns: int
    files: list[str] = field(default_factory=list)
    est_rows: int = 0
    kind: str = "plan"
    status: str = PENDING
    owner: str | None = None
    claimed_at: float | None = None
    attempts: int = 0
    source_rows: int = 0
    points: int = 0
    field_values: int = 0
    rejected: int = 0
    null_measures: int = 0
    #: source rows that landed on a point another row of the partition also has
    duplicates: int = 0
    #: field values replaced by a later row's value for the same point and field
    superseded: int = 0
    duplicate_examples: list[dict[str, Any]] = field(default_factory=list)
    written_min_ns: int | None = None
    written_max_ns: int | None = None
    checksum: str | None = None
    error: str | None = None
    verified: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    #: the last run failed for a reason a retry may fix (the error's ``retryable``); not stored
    retryable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: the stored columns: every field but the outcome of the last run in this process
_COLS = tuple(f for f in Partition.__dataclass_fields__ if f != "retryable")
#: columns added after the first release: (name, declaration) for ALTER TABLE
_ADDED = (("duplicates", "INTEGER NOT NULL DEFAULT 0"), ("superseded", "INTEGER NOT NULL DEFAULT 0"),
          ("duplicate_examples", "TEXT NOT NULL DEFAULT '[]'"))


@dataclass
class MigrationRecord:
    id: str
    source: str
    mapping: str
    window_ns: int
    plan: dict[str, Any]
    created_at: float


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_dead(owner: str | None) -> bool:
    if not owner or ":" not in owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    try:  # a zombie (killed, not yet reaped) is dead too
        with open(f"/proc/{int(pid)}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


class MigrationStore(SqliteFile):
    """The migration tables of the state file (see the module docstring)."""

    def __init__(self, path: str | Path, *, lease_seconds: float = 6 * 3600) -> None:
        super().__init__(path, _SCHEMA, timeout=60)
        self.lease_seconds = lease_seconds
        with self._tx() as db:  # a state file written by an older version
            have = {r[1] for r in db.execute("PRAGMA table_info(migration_partitions)")}
            for name, decl in _ADDED:
                if name not in have:
                    db.execute(f"ALTER TABLE migration_partitions ADD COLUMN {name} {decl}")

    def __enter__(self) -> MigrationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ migrations

    def save_plan(self, record: MigrationRecord, partitions: list[Partition]) -> int:
        """Record a plan; partitions already known (same id) keep their status and counts.

        Returns how many partitions were new.
        """
        with self._tx() as db:
            db.execute(
                "INSERT INTO migrations (id, source, mapping, window_ns, plan, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET mapping=excluded.mapping,"
                " plan=excluded.plan, window_ns=excluded.window_ns",
                (record.id, record.source, record.mapping, record.window_ns,
                 json.dumps(record.plan), record.created_at))
            new = sum(self._insert_partition(db, p) for p in partitions)
            self._event(db, record.id, "plan", None, {"partitions": len(partitions), "new": new})
        return new

    def migration(self, migration_id: str) -> MigrationRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, source, mapping, window_ns, plan, created_at FROM migrations "
                "WHERE id = ?", (migration_id,)).fetchone()
        if row is None:
            return None
        return MigrationRecord(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])

    # ------------------------------------------------------------------ partitions

    @staticmethod
    def _partition(row: tuple[Any, ...]) -> Partition:
        d = dict(zip(_COLS, row, strict=True))
        d["files"] = json.loads(d["files"])
        d["duplicate_examples"] = json.loads(d["duplicate_examples"] or "[]")
        return Partition(**d)

    def partitions(self, migration_id: str, ids: list[str] | None = None,
                   status: tuple[str, ...] | None = None) -> list[Partition]:
        sql = f"SELECT {', '.join(_COLS)} FROM migration_partitions WHERE migration = ?"
        args: list[Any] = [migration_id]
        if status:
            sql += f" AND status IN ({', '.join('?' * len(status))})"
            args += list(status)
        sql += " ORDER BY table_name, start_ns, id"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        out = [self._partition(r) for r in rows]
        if ids is not None:
            wanted = set(ids)
            out = [p for p in out if p.id in wanted]
        return out

    def get(self, migration_id: str, partition_id: str) -> Partition | None:
        found = self.partitions(migration_id, [partition_id])
        return found[0] if found else None

    @staticmethod
    def _insert_partition(db: sqlite3.Connection, p: Partition) -> int:
        """Add ``p`` as pending unless known (same id); 1 when it was new, else 0."""
        cur = db.execute(
            "INSERT OR IGNORE INTO migration_partitions (migration, id, table_name, bucket,"
            " measurement, start_ns, stop_ns, files, est_rows, kind, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (p.migration, p.id, p.table_name, p.bucket, p.measurement, p.start_ns,
             p.stop_ns, json.dumps(p.files), p.est_rows, p.kind, PENDING))
        return cur.rowcount

    def add_partition(self, p: Partition) -> None:
        with self._tx() as db:
            self._insert_partition(db, p)

    def reclaim_stale(self, migration_id: str) -> list[str]:
        """Running partitions whose owner is gone → pending. Returns their ids."""
        now = time.time()
        back = []
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, owner, claimed_at FROM migration_partitions WHERE migration = ? "
                "AND status = ?", (migration_id, RUNNING)).fetchall()
            for pid, owner, claimed in rows:
                if _owner_dead(owner) or (claimed or 0) < now - self.lease_seconds:
                    db.execute(
                        "UPDATE migration_partitions SET status = ?, error = ? WHERE migration = ?"
                        " AND id = ? AND status = ?",
                        (PENDING, f"interrupted (owner {owner} gone); will be run again",
                         migration_id, pid, RUNNING))
                    back.append(pid)
                    self._event(db, migration_id, "reclaim", pid, {"owner": owner})
        return back

    def claim(self, migration_id: str, partition_id: str, owner: str | None = None,
              *, statuses: tuple[str, ...] = (PENDING, FAILED, ROLLED_BACK)) -> Partition | None:
        """Take a partition for running; None when someone else has it or it is done."""
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE migration_partitions SET status = ?, owner = ?, claimed_at = ?, "
                f"attempts = attempts + 1, started_at = ?, error = NULL WHERE migration = ? "
                f"AND id = ? AND status IN ({', '.join('?' * len(statuses))})",
                (RUNNING, owner or owner_id(), time.time(), time.time(), migration_id,
                 partition_id, *statuses))
            if cur.rowcount != 1:
                return None
            row = db.execute(
                f"SELECT {', '.join(_COLS)} FROM migration_partitions WHERE migration = ? "
                "AND id = ?", (migration_id, partition_id)).fetchone()
        return self._partition(row)

    def progress(self, migration_id: str, partition_id: str, points: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE migration_partitions SET points = ? WHERE migration = ? AND id = ?",
                       (points, migration_id, partition_id))

    def finish(self, p: Partition, aggregates: bytes | None = None,
               files: list[tuple[str, int | None]] | None = None) -> None:
        """Record the outcome of a run (status done or failed, counts, checksum, error).

        ``aggregates`` (see :mod:`onsflux.migrate.aggregates`): the verify statistics of
        what this attempt read from ``files`` (url, size), kept for ``verify`` — valid
        only while the partition stays ``done`` at this attempt (:meth:`aggregates`).
        """
        p.error = redact(p.error) if p.error else p.error  # a server may echo credentials
        with self._tx() as db:
            db.execute("DELETE FROM migration_aggregates WHERE migration = ? AND id = ?",
                       (p.migration, p.id))
            if aggregates is not None and p.status == DONE:
                db.execute(
                    "INSERT INTO migration_aggregates (migration, id, attempt, files, stats) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (p.migration, p.id, p.attempts, json.dumps(files or []), aggregates))
            db.execute(
                "UPDATE migration_partitions SET status = ?, source_rows = ?, points = ?, "
                "field_values = ?, rejected = ?, null_measures = ?, duplicates = ?, "
                "superseded = ?, duplicate_examples = ?, written_min_ns = ?, "
                "written_max_ns = ?, checksum = ?, error = ?, finished_at = ?, verified = NULL,"
                " owner = NULL WHERE migration = ? AND id = ?",
                (p.status, p.source_rows, p.points, p.field_values, p.rejected, p.null_measures,
                 p.duplicates, p.superseded, json.dumps(p.duplicate_examples),
                 p.written_min_ns, p.written_max_ns, p.checksum, p.error, time.time(),
                 p.migration, p.id))
            self._event(db, p.migration, "run_" + p.status, p.id,
                        {"points": p.points, "rejected": p.rejected, "error": p.error,
                         "duplicates": p.duplicates, "superseded": p.superseded})

    # ------------------------------------------------------------------ series written

    def add_series(self, migration_id: str, partition_id: str, series: list[str]) -> None:
        """Record series (JSON ``[[tag, value], …]``) a partition is about to write:
        called *before* the write, so a rollback after a killed run knows them."""
        if not series:
            return
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO migration_series (migration, id, series) VALUES (?, ?, ?)",
                [(migration_id, partition_id, s) for s in series])

    def series(self, migration_id: str, partition_id: str) -> list[str]:
        """Every series recorded for the partition (any attempt), sorted."""
        with self._lock:
            rows = self._db.execute(
                "SELECT series FROM migration_series WHERE migration = ? AND id = ? "
                "ORDER BY series", (migration_id, partition_id)).fetchall()
        return [r[0] for r in rows]

    def aggregates(self, p: Partition) -> tuple[bytes, list[tuple[str, int | None]]] | None:
        """The statistics recorded by the run that made ``p`` done (this very attempt),
        with the files (url, size) they were computed from; None when there are none."""
        if p.status != DONE:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT attempt, files, stats FROM migration_aggregates WHERE migration = ? "
                "AND id = ?", (p.migration, p.id)).fetchone()
        if row is None or int(row[0]) != p.attempts:
            return None
        return bytes(row[2]), [(u, s) for u, s in json.loads(row[1])]

    def set_verified(self, migration_id: str, partition_id: str, verdict: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE migration_partitions SET verified = ? WHERE migration = ? AND id = ?",
                       (verdict, migration_id, partition_id))

    def mark_rolled_back(self, migration_id: str, partition_id: str, detail: dict[str, Any]
                         ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE migration_partitions SET status = ?, verified = NULL, finished_at = ? "
                "WHERE migration = ? AND id = ?",
                (ROLLED_BACK, time.time(), migration_id, partition_id))
            self._event(db, migration_id, "rollback", partition_id, detail)

    # ------------------------------------------------------------------ events, watermarks

    @staticmethod
    def _event(db: sqlite3.Connection, migration_id: str, action: str, partition_id: str | None,
               detail: dict[str, Any]) -> None:
        db.execute(
            "INSERT INTO migration_events (migration, at, action, partition_id, detail) "
            "VALUES (?, ?, ?, ?, ?)",
            (migration_id, time.time(), action, partition_id, json.dumps(detail, default=str)))

    def event(self, migration_id: str, action: str, partition_id: str | None = None,
              **detail: Any) -> None:
        with self._tx() as db:
            self._event(db, migration_id, action, partition_id, detail)

    def events(self, migration_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, action, partition_id, detail FROM migration_events WHERE migration = ?"
                " ORDER BY seq", (migration_id,)).fetchall()
        return [{"at": r[0], "action": r[1], "partition": r[2], "detail": json.loads(r[3])}
                for r in rows]

    def watermark(self, migration_id: str, table: str) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT watermark_ns FROM migration_watermarks WHERE migration = ? AND "
                "table_name = ?", (migration_id, table)).fetchone()
        return None if row is None else int(row[0])

    def watermarks(self, migration_id: str) -> dict[str, int]:
        """Every table's sync watermark (the /ops page shows the lag)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT table_name, watermark_ns FROM migration_watermarks WHERE migration = ?",
                (migration_id,)).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def migration_ids(self) -> list[str]:
        """Every planned migration, newest first (the /ops page lists them)."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM migrations ORDER BY created_at DESC").fetchall()
        return [str(r[0]) for r in rows]

    def set_watermark(self, migration_id: str, table: str, ns: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO migration_watermarks (migration, table_name, watermark_ns, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(migration, table_name) DO UPDATE SET "
                "watermark_ns = excluded.watermark_ns, updated_at = excluded.updated_at",
                (migration_id, table, int(ns), time.time()))

    def partitions_overlapping(self, measurement: str, start_ns: int, stop_ns: int
                               ) -> list[Partition]:
        """Migrated (``done``) partitions of ``measurement`` with data in ``[start, stop)``,
        of every migration: the answer service names them as sources."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_COLS)} FROM migration_partitions WHERE status = ? "
                "AND measurement = ? AND start_ns < ? AND stop_ns > ? "
                "ORDER BY start_ns, migration, id",
                (DONE, measurement, stop_ns, start_ns)).fetchall()
        return [self._partition(r) for r in rows]
