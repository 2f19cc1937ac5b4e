"""Admin: databases, buckets, retention and deletes (influxdb-client's ``bucket_api`` and
``delete_api``), with the v1/v2/v3 differences of each in one table.

- 1.x: InfluxQL statements (``CREATE DATABASE``, retention policies, ``DELETE``);
- 2.x: ``/api/v2/orgs``, ``/api/v2/buckets``, ``/api/v2/delete``;
- 3.x: ``/api/v3/configure/database``; no time-range delete.

"Already exists" is recognised only from the answers the servers really give (their
source, not a guess): 2.x answers ``422`` with ``{"code": "conflict", "message": "bucket
with name X already exists"}`` (``tenant.BucketAlreadyExistsError``, EConflict mapped to
422); 3.x answers ``409 Conflict`` with ``attempted to create a resource that already
exists`` (``CatalogError::AlreadyExists``), and older 3.x builds ``400`` with ``tried
creating database named 'X' that already exists`` (``WriteBufferError::DatabaseExists``).
Any other refusal -- a ``409`` for a resource already *deleted* included -- is an error.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .. import catalog
from ..durations import duration_seconds, go_duration_seconds
from ..exceptions import ConfigError, QueryError, WriteRejected
from ..frames import rfc3339
from ..quoting import predicate_string, quote_ident, quote_literal
from ..settings import Settings
from .query import Queries
from .transport import ServerKind, Transport

log = logging.getLogger(__name__)

#: the retention policy onsflux creates on 1.x databases
RP_NAME = "onsflux"

#: what InfluxDB 3 says when the database is already there (influxdb3_catalog CatalogError,
#: influxdb3_write DatabaseExists); compared with the whole body, not searched for "exist"
_V3_EXISTS_409 = "attempted to create a resource that already exists"
_V3_EXISTS_400_START = "tried creating database named "
_V3_EXISTS_400_END = " that already exists"


@dataclass(frozen=True)
class BucketInfo:
    """What ``ensure_database`` found or made."""

    name: str
    retention_policy: str | None
    retention_seconds: float | None
    created: bool


def v2_already_exists(response: httpx.Response) -> bool:
    """Is this 2.x answer to ``POST /api/v2/buckets`` "bucket with name X already exists"?"""
    if response.status_code not in (409, 422):
        return False
    try:
        doc = response.json()
    except ValueError:
        return False
    return (isinstance(doc, dict) and doc.get("code") == "conflict"
            and str(doc.get("message", "")).endswith("already exists"))


def v3_already_exists(response: httpx.Response) -> bool:
    """Is this 3.x answer to ``POST /api/v3/configure/database`` "database already exists"?"""
    text = response.text.strip()
    if response.status_code == 409:
        return text == _V3_EXISTS_409
    if response.status_code == 400:
        return text.startswith(_V3_EXISTS_400_START) and text.endswith(_V3_EXISTS_400_END)
    return False


class Admin:
    """Databases, retention and deletes on one server (``InfluxClient`` delegates here)."""

    def __init__(self, transport: Transport, settings: Settings, queries: Queries,
                 kind: Callable[[], ServerKind]) -> None:
        self._t = transport
        self._settings = settings
        self._q = queries
        self._kind = kind

    def _fail(self, what: str, response: httpx.Response) -> ConfigError:
        return ConfigError(f"{what}: HTTP {response.status_code}: {self._t.brief(response.text, 200)}")

    # ------------------------------------------------------------------ databases

    def ensure_database(self, bucket: str, retention: str = catalog.RETENTION) -> BucketInfo:
        """Make sure ``bucket`` exists with ``retention``; safe to call any number of times.

        1.x: a missing database is created with a default retention policy ``onsflux``
        of ``retention``. An existing one is left alone when its default policy already
        has that duration; if its ``onsflux`` policy differs it is altered (and made
        default) only when that *lengthens* retention -- shortening would delete data, so
        it raises ``ConfigError``. A database whose default policy is someone else's
        (e.g. ``autogen``) is never changed, only logged.
        2.x: the bucket is created in ``influxdb_org`` with that retention when missing.
        3.x: the database is created when missing (retention left to the server).
        """
        seconds = duration_seconds(retention)
        ensure = {"1.x": self._ensure_v1, "2.x": self._ensure_v2, "3.x": self._ensure_v3}
        return ensure[self._kind()](bucket, retention, seconds)

    def retention_policies(self, bucket: str) -> list[dict[str, Any]]:
        """``SHOW RETENTION POLICIES`` as rows (1.x)."""
        return self._q.query_points(f"SHOW RETENTION POLICIES ON {quote_ident(bucket)}")

    def _ensure_v1(self, bucket: str, retention: str, seconds: int) -> BucketInfo:
        want = math.inf if seconds == 0 else float(seconds)
        db = quote_ident(bucket)
        rp = quote_ident(RP_NAME)
        try:
            policies = self.retention_policies(bucket)
        except QueryError as exc:
            if not exc.database_missing:
                raise
            self._q.query(f"CREATE DATABASE {db} WITH DURATION {retention} REPLICATION 1 NAME {rp}")
            return BucketInfo(bucket, RP_NAME, want, created=True)
        default = next((p for p in policies if p.get("default")), None)
        ours = next((p for p in policies if p.get("name") == RP_NAME), None)
        if default is not None and go_duration_seconds(str(default["duration"])) == want:
            return BucketInfo(bucket, str(default["name"]), want, created=False)
        if ours is None:
            if default is not None:
                log.warning(
                    "database %r: default retention policy %r has duration %s, not %s; "
                    "leaving it as it is",
                    bucket, default.get("name"), default.get("duration"), retention,
                )
                return BucketInfo(
                    bucket, str(default["name"]),
                    go_duration_seconds(str(default["duration"])), created=False,
                )
            self._q.query(
                f"CREATE RETENTION POLICY {rp} ON {db} DURATION {retention} REPLICATION 1 DEFAULT"
            )
            return BucketInfo(bucket, RP_NAME, want, created=False)
        have = go_duration_seconds(str(ours["duration"]))
        if want < have:
            raise ConfigError(
                f"database {bucket!r}: retention policy {RP_NAME!r} keeps {ours['duration']}, "
                f"longer than the requested {retention}; shortening it would delete data, "
                "so onsflux will not do it (ALTER RETENTION POLICY by hand if you mean it)"
            )
        self._q.query(f"ALTER RETENTION POLICY {rp} ON {db} DURATION {retention} DEFAULT")
        return BucketInfo(bucket, RP_NAME, want, created=False)

    def _org_id_v2(self) -> str:
        org = self._settings.influxdb_org
        response, _ = self._t.request(
            "GET", "/api/v2/orgs", what=f"find org {org!r}", params={"org": org}
        )
        if response.status_code >= 400:
            raise ConfigError(
                f"cannot read organization {org!r} (HTTP {response.status_code}): "
                f"{self._t.brief(response.text, 200)}"
            )
        for item in response.json().get("orgs") or []:
            if item.get("name") == org:
                return str(item["id"])
        raise ConfigError(f"organization {org!r} not found on {self._t.url}: set INFLUXDB_ORG")

    def _ensure_v2(self, bucket: str, retention: str, seconds: int) -> BucketInfo:
        org_id = self._org_id_v2()
        what = f"ensure bucket {bucket!r}"
        kept = float(seconds) or math.inf
        response, _ = self._t.request(
            "GET", "/api/v2/buckets", what=what, params={"name": bucket, "orgID": org_id}
        )
        if response.status_code == 200:
            for item in response.json().get("buckets") or []:
                if item.get("name") == bucket:
                    rules = item.get("retentionRules") or []
                    every = next((r.get("everySeconds") for r in rules), 0) or 0
                    return BucketInfo(bucket, None, float(every) or math.inf, created=False)
        elif response.status_code != 404:
            raise self._fail(what, response)
        body = {
            "orgID": org_id,
            "name": bucket,
            "retentionRules": [{"type": "expire", "everySeconds": seconds}] if seconds else [],
        }
        response, _ = self._t.request("POST", "/api/v2/buckets", what=what, json_body=body)
        if response.status_code in (200, 201):
            return BucketInfo(bucket, None, kept, created=True)
        if v2_already_exists(response):  # created by someone else since our GET
            return BucketInfo(bucket, None, kept, created=False)
        raise self._fail(what, response)

    def _ensure_v3(self, bucket: str, retention: str, seconds: int) -> BucketInfo:
        what = f"ensure database {bucket!r}"
        response, _ = self._t.request(
            "POST", "/api/v3/configure/database", what=what, json_body={"db": bucket}
        )
        if response.status_code in (200, 201, 204):
            return BucketInfo(bucket, None, None, created=True)
        if v3_already_exists(response):
            return BucketInfo(bucket, None, None, created=False)
        raise self._fail(what, response)

    # ------------------------------------------------------------------ delete

    def delete_range(
        self,
        bucket: str,
        measurement: str,
        start_ns: int,
        stop_ns: int,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Delete points of ``measurement`` with ``start_ns <= time < stop_ns`` (and tags)."""
        if stop_ns <= start_ns:
            return
        delete = {"1.x": self._delete_v1, "2.x": self._delete_v2, "3.x": self._delete_v3}
        delete[self._kind()](bucket, measurement, start_ns, stop_ns, dict(tags or {}))

    def _delete_v1(self, bucket: str, measurement: str, start_ns: int, stop_ns: int,
                   tags: dict[str, str]) -> None:
        where = [f"time >= {int(start_ns)}", f"time < {int(stop_ns)}"]
        where += [f"{quote_ident(k)} = {quote_literal(v)}" for k, v in tags.items()]
        self._q.query(f"DELETE FROM {quote_ident(measurement)} WHERE {' AND '.join(where)}",
                      db=bucket)

    def _delete_v2(self, bucket: str, measurement: str, start_ns: int, stop_ns: int,
                   tags: dict[str, str]) -> None:
        predicate = " AND ".join(
            [f"_measurement={predicate_string(measurement)}"]
            + [f"{k}={predicate_string(v)}" for k, v in tags.items()]
        )
        body = {  # the v2 delete range is inclusive on both ends
            "start": rfc3339(start_ns),
            "stop": rfc3339(stop_ns - 1),
            "predicate": predicate,
        }
        what = f"delete {measurement!r} from {bucket!r}"
        response, _ = self._t.request(
            "POST", "/api/v2/delete", what=what,
            params={"org": self._settings.influxdb_org, "bucket": bucket}, json_body=body,
        )
        if response.status_code not in (200, 204):
            raise WriteRejected(
                f"{what}: HTTP {response.status_code}: {self._t.brief(response.text)}",
                status=response.status_code,
                body=self._t.scrub(response.text),
            )

    def _delete_v3(self, bucket: str, measurement: str, start_ns: int, stop_ns: int,
                   tags: dict[str, str]) -> None:
        raise ConfigError("deleting a time range is not supported on InfluxDB 3")
