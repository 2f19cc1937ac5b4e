"""Cutover state in the state store: the phase, its thresholds, the audit trail, and what
the shadow comparisons found. SQLite (the same file as the other stores) or DynamoDB.

Phases::

    blue ──shadow──► shadow ──shift N%──► canary N% ──promote──► green ──► green-shadow
      ▲                                                                        │
      └──────────────── rollback (any phase, by hand or automatic) ◄───────────┘
                                   = rolled-back (serves blue)

One state record, versioned: every transition is a conditional write on the version it
read (``UPDATE … WHERE version = ?`` / DynamoDB ``ConditionExpression``), so two
processes rolling back at once produce one transition, not two. Every transition appends
an audit entry: when, who (the OS user, or the IAM principal where the store is
DynamoDB), the phases, why, whether it was forced, and the gate's results at that moment.

Comparisons (one row per shadow comparison: outcome, each side's latency and error) and
mismatch records (spec, both digests, a bounded diff sample) are bounded: SQLite keeps
the newest ``MAX_COMPARISONS`` / ``MAX_MISMATCHES``; DynamoDB items carry a TTL
(``expires_at``, ``TTL_DAYS``) and reads are limited to the newest.
"""

from __future__ import annotations

import getpass
import json
import time
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

from ..exceptions import ConfigError, StateStoreError
from ..retry import RetryPolicy
from ..settings import Settings
from ..state.store import SqliteFile

Phase = Literal["blue", "shadow", "canary", "green", "green-shadow", "rolled-back"]
PHASES: tuple[str, ...] = ("blue", "shadow", "canary", "green", "green-shadow", "rolled-back")
MAX_COMPARISONS = 100_000
MAX_MISMATCHES = 500
TTL_DAYS = 30


@dataclass(frozen=True)
class Thresholds:
    """The gate's and the automatic rollback's limits (all configurable)."""

    min_consistency: float = 0.999
    min_comparisons: int = 1000
    max_latency_ratio: float = 1.2        # green p95 <= ratio x blue p95
    max_error_rate_excess: float = 0.0    # green error rate <= blue's + this
    verify_max_age_hours: float = 24.0
    #: automatic rollback: a sliding window over what green served
    window_seconds: float = 60.0
    window_min_requests: int = 10
    rollback_error_rate: float = 0.05
    rollback_p95_ms: float = 2000.0
    rollback_mismatch_rate: float = 0.01

    def with_changes(self, **changes: Any) -> Thresholds:
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ConfigError(f"unknown threshold(s): {', '.join(sorted(unknown))}; known: "
                              f"{', '.join(asdict(self))}")
        try:
            typed = {k: type(getattr(self, k))(v) for k, v in changes.items()}
        except (TypeError, ValueError):
            raise ConfigError(f"thresholds {changes}: each value must be a number "
                              "(whole numbers for counts)") from None
        return replace(self, **typed)


@dataclass(frozen=True)
class CutoverState:
    phase: Phase = "blue"
    percent: float = 0.0          # canary: share of specs served by green
    blue: str = "timestream"      # timestream | files
    green: str = "influxdb"
    files_path: str | None = None
    sample: float = 0.1           # shadow: share of requests also run on the other side
    control_sample: float = 0.1   # share of shadow runs that re-run the served side (noise)
    timeout_ms: float = 10_000.0
    ignore: str = ""
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: when the current shadow session began: the gate counts comparisons since then
    session_started: float = 0.0
    version: int = 0
    updated_at: float = 0.0
    updated_by: str = ""
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CutoverState:
        d = dict(d)
        th = Thresholds(**{k: v for k, v in (d.pop("thresholds", None) or {}).items()
                           if k in Thresholds.__dataclass_fields__})
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(thresholds=th, **known)


@dataclass
class AuditEntry:
    at: float
    who: str
    action: str
    from_phase: str
    to_phase: str
    percent: float
    reason: str
    forced: bool
    gate: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ComparisonRecord:
    """One shadow comparison (``blue_*``/``green_*``: that side's run; ``control``: a
    control-vs-control run of the served side, for the noise floor)."""

    at: float
    spec_hash: str
    outcome: str
    control: bool
    served: str
    blue_ms: float | None
    green_ms: float | None
    blue_error: bool
    green_error: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MismatchRecord:
    at: float
    spec_hash: str
    spec: dict[str, Any]
    outcome: str
    control: bool
    blue_digest: str | None
    green_digest: str | None
    blue_rows: int
    green_rows: int
    counts: dict[str, int]
    diffs: list[dict[str, Any]]
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class StaleState(StateStoreError):
    """The state changed since it was read (another process made a transition first)."""

    kind = "stale_state"


class CutoverStore(Protocol):
    def get_state(self) -> CutoverState: ...
    def transition(self, new: CutoverState, *, expected_version: int, action: str,
                   who: str, reason: str, forced: bool = False,
                   gate: dict[str, Any] | None = None) -> CutoverState: ...
    def audit(self, limit: int = 100) -> list[AuditEntry]: ...
    def add_comparisons(self, records: list[ComparisonRecord]) -> None: ...
    def comparisons(self, limit: int = 10_000, since: float | None = None
                    ) -> list[ComparisonRecord]: ...
    def add_mismatch(self, record: MismatchRecord) -> None: ...
    def mismatches(self, limit: int = 50) -> list[MismatchRecord]: ...
    def close(self) -> None: ...


def whoami(settings: Settings | None = None, sts: Any | None = None) -> str:
    """Who makes a transition: the IAM principal where the state is in AWS (DynamoDB),
    else the OS user (``user@host`` never: the user is enough and hosts change)."""
    if sts is not None or (settings is not None and settings.state_path.startswith("dynamodb://")):
        try:
            if sts is None:
                import boto3

                sts = boto3.client("sts", region_name=settings.aws_region if settings else None)
            return str(sts.get_caller_identity()["Arn"])
        except Exception:  # noqa: BLE001 - no credentials: fall back to the OS user
            pass
    try:
        return f"os:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name (some containers)
        return "os:unknown"


# ====================================================================== SQLite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cutover_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cutover_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cutover_comparisons (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    spec_hash TEXT NOT NULL,
    outcome TEXT NOT NULL,
    control INTEGER NOT NULL,
    served TEXT NOT NULL,
    blue_ms REAL,
    green_ms REAL,
    blue_error INTEGER NOT NULL,
    green_error INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cutover_comparisons_at ON cutover_comparisons(at);
CREATE TABLE IF NOT EXISTS cutover_mismatches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc TEXT NOT NULL
);
"""


class SqliteCutoverStore(SqliteFile):
    """Cutover state in the SQLite state file (its own tables)."""

    def __init__(self, path: str | Path, *, max_comparisons: int = MAX_COMPARISONS,
                 max_mismatches: int = MAX_MISMATCHES) -> None:
        super().__init__(path, _SCHEMA)
        self.max_comparisons = max_comparisons
        self.max_mismatches = max_mismatches

    def get_state(self) -> CutoverState:
        with self._lock:
            row = self._db.execute("SELECT version, doc FROM cutover_state WHERE id = 1").fetchone()
        if row is None:
            return CutoverState()
        return replace(CutoverState.from_dict(json.loads(row[1])), version=int(row[0]))

    def transition(self, new: CutoverState, *, expected_version: int, action: str,
                   who: str, reason: str, forced: bool = False,
                   gate: dict[str, Any] | None = None) -> CutoverState:
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT version, doc FROM cutover_state WHERE id = 1").fetchone()
            current = 0 if row is None else int(row[0])
            if current != expected_version:
                raise StaleState(f"cutover state changed (version {current}, expected "
                                 f"{expected_version}): read it again")
            old_phase = "blue" if row is None else json.loads(row[1]).get("phase", "blue")
            stored = replace(new, version=current + 1, updated_at=now, updated_by=who,
                             reason=reason)
            db.execute("INSERT INTO cutover_state (id, version, doc) VALUES (1, ?, ?) "
                       "ON CONFLICT(id) DO UPDATE SET version = excluded.version, "
                       "doc = excluded.doc", (stored.version, json.dumps(stored.as_dict())))
            entry = AuditEntry(now, who, action, old_phase, stored.phase, stored.percent,
                               reason, forced, gate or {})
            db.execute("INSERT INTO cutover_audit (doc) VALUES (?)",
                       (json.dumps(entry.as_dict(), default=str),))
        return stored

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        with self._lock:
            rows = self._db.execute("SELECT doc FROM cutover_audit ORDER BY seq DESC LIMIT ?",
                                    (int(limit),)).fetchall()
        return [AuditEntry(**json.loads(r[0])) for r in reversed(rows)]

    def add_comparisons(self, records: list[ComparisonRecord]) -> None:
        if not records:
            return
        with self._tx() as db:
            db.executemany(
                "INSERT INTO cutover_comparisons (at, spec_hash, outcome, control, served, "
                "blue_ms, green_ms, blue_error, green_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.at, r.spec_hash, r.outcome, int(r.control), r.served, r.blue_ms, r.green_ms,
                  int(r.blue_error), int(r.green_error)) for r in records])
            last = db.execute("SELECT max(seq) FROM cutover_comparisons").fetchone()[0] or 0
            if last > self.max_comparisons:
                db.execute("DELETE FROM cutover_comparisons WHERE seq <= ?",
                           (last - self.max_comparisons,))

    def comparisons(self, limit: int = 10_000, since: float | None = None
                    ) -> list[ComparisonRecord]:
        sql = ("SELECT at, spec_hash, outcome, control, served, blue_ms, green_ms, blue_error, "
               "green_error FROM cutover_comparisons")
        args: tuple[Any, ...] = ()
        if since is not None:
            sql += " WHERE at >= ?"
            args = (since,)
        sql += " ORDER BY seq DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, int(limit))).fetchall()
        return [ComparisonRecord(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6], bool(r[7]),
                                 bool(r[8])) for r in reversed(rows)]

    def add_mismatch(self, record: MismatchRecord) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO cutover_mismatches (doc) VALUES (?)",
                       (json.dumps(record.as_dict(), default=str),))
            last = db.execute("SELECT max(seq) FROM cutover_mismatches").fetchone()[0] or 0
            if last > self.max_mismatches:
                db.execute("DELETE FROM cutover_mismatches WHERE seq <= ?",
                           (last - self.max_mismatches,))

    def mismatches(self, limit: int = 50) -> list[MismatchRecord]:
        with self._lock:
            rows = self._db.execute("SELECT doc FROM cutover_mismatches ORDER BY seq DESC "
                                    "LIMIT ?", (int(limit),)).fetchall()
        return [MismatchRecord(**json.loads(r[0])) for r in rows]


# ====================================================================== DynamoDB

def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


class DynamoCutoverStore:
    """Cutover state in the DynamoDB state table (same ``pk``/``sk`` layout).

    | pk | sk | item |
    |---|---|---|
    | ``cutover`` | ``state`` | the state document and ``version`` |
    | ``cutover#audit`` | ``<at>#<seq>`` | one transition |
    | ``cutover#cmp`` | ``<at>#<n>`` | one comparison (TTL) |
    | ``cutover#mis`` | ``<at>#<n>`` | one mismatch record (TTL) |
    """

    def __init__(self, table: str, *, region: str, session: Any = None,
                 endpoint_url: str | None = None, client: Any = None,
                 retry: RetryPolicy | None = None) -> None:
        import boto3
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        from ..aws import client_config

        if client is None:
            session = session or boto3.session.Session(region_name=region)
            client = session.client("dynamodb", endpoint_url=endpoint_url, config=client_config())
        self._ddb = client
        self._retry = retry or RetryPolicy()
        self.table = table
        self._ser, self._de = TypeSerializer(), TypeDeserializer()
        self._n = 0

    def _call(self, op: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        from ..aws import error_code, translate_botocore

        def once(_attempt: int) -> Any:  # retried by the one policy (onsflux.retry)
            try:
                return getattr(self._ddb, op)(TableName=self.table, **kwargs)
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    raise StaleState("cutover state changed since it was read: read it again") \
                        from exc
                raise translate_botocore(exc, service="DynamoDB", where=f"{op} on {self.table!r}",
                                         terminal=StateStoreError) from exc
            except BotoCoreError as exc:
                raise translate_botocore(exc, service="DynamoDB", where=f"{op} on {self.table!r}",
                                         terminal=StateStoreError) from exc

        return self._retry.call(once, what=f"DynamoDB {op} on {self.table!r}")

    def _item(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(_to_dynamo(v)) for k, v in values.items()
                if v is not None}

    def _plain(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: _from_dynamo(self._de.deserialize(v)) for k, v in item.items()}

    def _sk(self, at: float) -> str:
        self._n += 1
        return f"{at:017.6f}#{time.monotonic_ns() % 10**12:012d}{self._n:06d}"

    def _newest(self, pk: str, limit: int, since: float | None = None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk" + (" AND sk >= :since" if since else ""),
            "ExpressionAttributeValues": {":pk": {"S": pk},
                                          **({":since": {"S": f"{since:017.6f}"}}
                                             if since else {})},
            "ScanIndexForward": False,
        }
        out: list[dict[str, Any]] = []
        while len(out) < limit:
            kwargs["Limit"] = min(1000, limit - len(out))
            page = self._call("query", **kwargs)
            out.extend(self._plain(i) for i in page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return out

    def get_state(self) -> CutoverState:
        item = self._call("get_item", Key={"pk": {"S": "cutover"}, "sk": {"S": "state"}},
                          ConsistentRead=True).get("Item")
        if not item:
            return CutoverState()
        plain = self._plain(item)
        return replace(CutoverState.from_dict(json.loads(plain["doc"])),
                       version=int(plain["version"]))

    def transition(self, new: CutoverState, *, expected_version: int, action: str,
                   who: str, reason: str, forced: bool = False,
                   gate: dict[str, Any] | None = None) -> CutoverState:
        now = time.time()
        old = self.get_state()
        if old.version != expected_version:
            raise StaleState(f"cutover state changed (version {old.version}, expected "
                             f"{expected_version}): read it again")
        stored = replace(new, version=expected_version + 1, updated_at=now, updated_by=who,
                         reason=reason)
        cond: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"} if expected_version == 0 else
            {"ConditionExpression": "#v = :v", "ExpressionAttributeNames": {"#v": "version"},
             "ExpressionAttributeValues": {":v": {"N": str(expected_version)}}})
        self._call("put_item", Item=self._item({
            "pk": "cutover", "sk": "state", "version": stored.version,
            "doc": json.dumps(stored.as_dict())}), **cond)
        entry = AuditEntry(now, who, action, old.phase, stored.phase, stored.percent, reason,
                           forced, gate or {})
        self._call("put_item", Item=self._item({
            "pk": "cutover#audit", "sk": self._sk(now),
            "doc": json.dumps(entry.as_dict(), default=str)}))
        return stored

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        items = self._newest("cutover#audit", limit)
        return [AuditEntry(**json.loads(i["doc"])) for i in reversed(items)]

    def add_comparisons(self, records: list[ComparisonRecord]) -> None:
        expires = int(time.time() + TTL_DAYS * 86400)
        for r in records:
            self._call("put_item", Item=self._item({
                "pk": "cutover#cmp", "sk": self._sk(r.at), "expires_at": expires,
                **r.as_dict()}))

    def comparisons(self, limit: int = 10_000, since: float | None = None
                    ) -> list[ComparisonRecord]:
        items = self._newest("cutover#cmp", limit, since)
        fields = ComparisonRecord.__dataclass_fields__
        out = []
        for i in reversed(items):
            values = {k: i.get(k) for k in fields}
            values["control"] = bool(values["control"])
            values["blue_error"] = bool(values["blue_error"])
            values["green_error"] = bool(values["green_error"])
            out.append(ComparisonRecord(**values))
        return out

    def add_mismatch(self, record: MismatchRecord) -> None:
        self._call("put_item", Item=self._item({
            "pk": "cutover#mis", "sk": self._sk(record.at),
            "expires_at": int(time.time() + TTL_DAYS * 86400),
            "doc": json.dumps(record.as_dict(), default=str)}))

    def mismatches(self, limit: int = 50) -> list[MismatchRecord]:
        return [MismatchRecord(**json.loads(i["doc"])) for i in self._newest("cutover#mis", limit)]

    def close(self) -> None:
        return None


def open_cutover_store(settings: Settings) -> CutoverStore:
    """The cutover store next to the other state: SQLite file or ``dynamodb://TABLE``."""
    location = settings.state_path
    if location.startswith("dynamodb://"):
        table = location.removeprefix("dynamodb://").strip("/")
        if not table:
            raise ConfigError("ONSFLUX_STATE=dynamodb:// needs a table name: dynamodb://TABLE")
        return DynamoCutoverStore(table, region=settings.aws_region,
                                  retry=RetryPolicy.from_settings(settings))
    return SqliteCutoverStore(location)
