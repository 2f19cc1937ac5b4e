"""``onsflux doctor``: check a setup end to end, and say the exact fix for what is wrong.

Checks, in order (a later one that needs an earlier one is skipped, not failed):

1. ``config``     the settings load; where InfluxDB, the state store and the fallback are
                  (secrets are named, never shown); API keys or auth disabled;
2. ``influxdb``   reachable, its version and kind (``/ping``);
3. ``bucket:X``   each database/bucket of the catalog exists with the configured retention;
4. ``probe:X``    write permission and read-back: a point written to the scratch
                  measurement ``onsflux_doctor_probe``, counted, deleted, counted again;
5. ``state``      the state store opens and answers (objects, dead letters);
6. ``s3``         S3 access, when an ``s3://`` location is configured or given (``--s3``);
7. ``fallback``   the Parquet fallback path is set and holds files.

Each check is ``ok``, ``warn`` (works, but not as it should be), ``fail`` (with the fix),
or ``skip`` (not configured, or needs a failed check). The exit code is 0 when nothing
failed, 1 otherwise (``warn`` does not fail the run).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .. import catalog
from ..durations import duration_seconds, go_duration_seconds
from ..exceptions import OnsfluxError
from ..settings import Settings

Status = Literal["ok", "warn", "fail", "skip"]
PROBE_MEASUREMENT = "onsflux_doctor_probe"


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.failed, "checks": [c.as_dict() for c in self.checks]}


def _duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if math.isinf(seconds) or seconds == 0:
        return "infinite"
    days = seconds / 86400
    return f"{days:g}d" if days >= 1 else f"{seconds:g}s"


class Doctor:
    """Runs the checks; ``client_factory`` and ``store_factory`` are seams for tests."""

    def __init__(self, settings: Settings, *, s3_urls: list[str] | None = None,
                 client_factory: Callable[[str], Any] | None = None,
                 store_factory: Callable[[Settings], Any] | None = None,
                 now_ns: Callable[[], int] = time.time_ns) -> None:
        self.settings = settings
        self.s3_urls = list(s3_urls or [])
        self.client_factory = client_factory
        self.store_factory = store_factory
        self.now_ns = now_ns
        self.checks: list[Check] = []

    def _add(self, name: str, status: Status, detail: str, fix: str | None = None) -> Check:
        check = Check(name, status, detail, fix)
        self.checks.append(check)
        return check

    @contextmanager
    def _client(self, url: str) -> Iterator[Any]:
        if self.client_factory is not None:
            yield self.client_factory(url)
            return
        from ..influx import InfluxClient

        # one attempt, a short timeout: the doctor reports, it does not wait out outages
        s = self.settings.with_overrides(max_attempts=1, timeout_seconds=5.0)
        with InfluxClient(s, url=url) as client:
            yield client

    # ------------------------------------------------------------------ the checks

    def run(self) -> Report:
        url = self._config()
        if url is None:
            self._add("influxdb", "skip", "no InfluxDB URL (see config)")
        else:
            with self._client(url) as client:
                if self._influxdb(client, url):
                    for bucket in catalog.BUCKETS:
                        if self._bucket(client, bucket):
                            self._probe(client, bucket)
                else:
                    for bucket in catalog.BUCKETS:
                        self._add(f"bucket:{bucket}", "skip", "InfluxDB unreachable")
        self._state()
        self._s3()
        self._fallback()
        return Report(self.checks)

    def _config(self) -> str | None:
        s = self.settings
        from ..influx.local import resolve_url

        notes = []
        auth = ("token" if s.influxdb_token or s.influxdb_token_secret_arn else
                "basic" if s.influxdb_username else "none")
        notes.append(f"auth {auth}")
        notes.append(f"state {'DynamoDB' if s.state_path.startswith('dynamodb://') else 'SQLite'} "
                     f"{s.state_path}")
        notes.append(f"retention {s.retention}")
        try:
            duration_seconds(s.retention)
        except (ValueError, OnsfluxError) as exc:
            self._add("config", "fail", f"ONSFLUX_RETENTION={s.retention!r}: {exc}",
                      "set ONSFLUX_RETENTION to a duration in days or hours, e.g. 2555d")
            return None
        try:
            url = resolve_url(s)
        except OnsfluxError:
            self._add("config", "fail", "no InfluxDB: INFLUXDB_URL is not set and no local "
                      "server is running under " + str(s.state_dir),
                      "run `onsflux local up`, or export INFLUXDB_URL=https://HOST:8086 "
                      "(and INFLUXDB_TOKEN)")
            return None
        notes.insert(0, f"InfluxDB {url}" + ("" if s.influxdb_url else " (local server)"))
        if s.api_auth != "disabled" and not (s.api_keys or s.api_keys_secret_arn):
            self._add("config", "warn", "; ".join(notes) + "; no API keys: the API answers 401 "
                      "to every request",
                      "export ONSFLUX_API_KEYS=key1,key2 (or ONSFLUX_API_AUTH=disabled for a "
                      "private local run)")
        elif s.answer_mode == "bedrock" and not s.bedrock_model_id:
            self._add("config", "fail", "ONSFLUX_ANSWER_MODE=bedrock without a model",
                      "export ONSFLUX_BEDROCK_MODEL_ID=<model id>, or ONSFLUX_ANSWER_MODE=local")
        else:
            self._add("config", "ok", "; ".join(notes))
        return url

    def _influxdb(self, client: Any, url: str) -> bool:
        try:
            info = client.ping(refresh=True)
        except OnsfluxError as exc:
            local = not self.settings.influxdb_url
            fix = ("start it: `onsflux local up`" if local else
                   f"check that {url} is reachable from here (DNS, security group on port "
                   f"8086, VPN) and that INFLUXDB_URL is right; `curl -i {url}/ping` should "
                   "answer 204")
            if exc.kind in ("config",) and "credentials" in str(exc):
                fix = ("set a valid INFLUXDB_TOKEN (2.x: an API token with read/write on the "
                       "buckets) or INFLUXDB_USERNAME/INFLUXDB_PASSWORD (1.x)")
            self._add("influxdb", "fail", f"{url}: {exc}", fix)
            return False
        self._add("influxdb", "ok", f"{url} answers: InfluxDB {info.version or '?'} ({info.kind})")
        return True

    def _bucket(self, client: Any, bucket: str) -> bool:
        want = float(duration_seconds(self.settings.retention)) or math.inf
        name = f"bucket:{bucket}"
        try:
            policies = client.retention_policies(bucket)
        except OnsfluxError as exc:
            if "database not found" in str(exc) or "not found" in str(exc):
                self._add(name, "fail", f"{bucket!r} does not exist",
                          f"create it: `onsflux local up` (local), or let `onsflux ingest` "
                          f"create it (the token needs write on the org), or "
                          f"`influx bucket create -n {bucket} -o {self.settings.influxdb_org} "
                          f"-r {self.settings.retention}` on 2.x")
                return False
            self._add(name, "warn", f"cannot read the retention of {bucket!r}: {exc}",
                      "grant the token read on the bucket's metadata, or check it by hand")
            return True
        default = next((p for p in policies if p.get("default")), None)
        if default is None:
            self._add(name, "warn", f"{bucket!r} has no default retention policy",
                      f"CREATE RETENTION POLICY onsflux ON \"{bucket}\" DURATION "
                      f"{self.settings.retention} REPLICATION 1 DEFAULT")
            return True
        have = go_duration_seconds(str(default.get("duration", "0s")))
        have = math.inf if have == 0 else have
        detail = (f"{bucket!r} exists, retention policy {default.get('name')!r} keeps "
                  f"{_duration_text(have)}")
        if have == want:
            self._add(name, "ok", detail)
        elif have < want:
            self._add(name, "fail", detail + f", shorter than ONSFLUX_RETENTION="
                      f"{self.settings.retention}: older points are dropped",
                      f"ALTER RETENTION POLICY \"{default.get('name')}\" ON \"{bucket}\" "
                      f"DURATION {self.settings.retention} DEFAULT (or `onsflux local up`, "
                      "which lengthens it)")
        else:
            self._add(name, "warn", detail + f", longer than ONSFLUX_RETENTION="
                      f"{self.settings.retention}", "set ONSFLUX_RETENTION to match, or "
                      "shorten the policy by hand if that is what you mean")
        return True

    def _probe(self, client: Any, bucket: str) -> None:
        name = f"probe:{bucket}"
        probe = secrets.token_hex(6)
        t = self.now_ns()
        line = f"{PROBE_MEASUREMENT},probe={probe} ok=1i {t}\n".encode()
        count_q = (f'SELECT count("ok") FROM "{PROBE_MEASUREMENT}" WHERE "probe" = \'{probe}\' '
                   f"AND time >= {t - 1} AND time <= {t + 1}")
        step = "write"
        try:
            outcome = client.write(bucket, line, lines=1)
            if getattr(outcome, "errors", None):
                raise OnsfluxError(f"the server dropped the probe: {outcome.errors}")
            step = "read"
            rows = client.query_points(count_q, bucket)
            found = int(rows[0].get("count", 0)) if rows else 0
            if found != 1:
                self._add(name, "fail", f"wrote a probe to {bucket!r} but read back {found} "
                          "points", "check that the token may read the bucket it writes, "
                          "and the server's retention (a probe at now must be kept)")
                return
            step = "delete"
            client.delete_range(bucket, PROBE_MEASUREMENT, t, t + 1, {"probe": probe})
            rows = client.query_points(count_q, bucket)
            left = int(rows[0].get("count", 0)) if rows else 0
        except OnsfluxError as exc:
            perm = "write" if step == "write" else "read" if step == "read" else "delete"
            self._add(name, "fail", f"{step} of the probe in {bucket!r} failed: {exc}",
                      f"give the token {perm} permission on {bucket!r} (2.x: an API token "
                      f"with {perm} on the bucket; 1.x: GRANT ALL ON \"{bucket}\" TO <user>)")
            return
        if left:
            self._add(name, "warn", f"probe written and read in {bucket!r}, but {left} point "
                      f"left after the delete in {PROBE_MEASUREMENT!r}",
                      "the token cannot delete; remove it by hand: DELETE FROM "
                      f"\"{PROBE_MEASUREMENT}\"")
            return
        self._add(name, "ok", f"probe point written, read back and deleted in {bucket!r} "
                  f"({PROBE_MEASUREMENT})")

    def _state(self) -> None:
        s = self.settings
        try:
            if self.store_factory is not None:
                store = self.store_factory(s)
            else:
                from ..state.store import store_for

                store = store_for(s)
            try:
                objects = len(store.objects())
                dead = len(store.dead_letters())
            finally:
                store.close()
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its fix
            where = s.state_path
            fix = (f"create the DynamoDB table {where.removeprefix('dynamodb://')} (deploy/"
                   "terraform does) and give these credentials dynamodb:GetItem/PutItem/Query"
                   if where.startswith("dynamodb://") else
                   f"make {where} writable (its folder must exist), or set ONSFLUX_STATE")
            self._add("state", "fail", f"state store {where}: {type(exc).__name__}: {exc}", fix)
            return
        status: Status = "warn" if dead else "ok"
        self._add("state", status, f"state store {s.state_path}: {objects} objects, "
                  f"{dead} dead letters",
                  "`onsflux dlq list` shows them; `onsflux dlq retry` re-ingests them"
                  if dead else None)

    def _list(self, url: str) -> int:
        from ..sources import list_objects

        return len(list_objects([url], self.settings))

    def _s3(self) -> None:
        urls = [u for u in [*self.s3_urls, self.settings.fallback_path or ""]
                if u.startswith("s3://")]
        if not urls:
            self._add("s3", "skip", "no s3:// location configured (ONSFLUX_FALLBACK_PATH) or "
                      "given (--s3)")
            return
        for url in dict.fromkeys(urls):
            try:
                n = self._list(url)
            except OnsfluxError as exc:
                self._add("s3", "fail", f"{url}: {exc}",
                          "check the credentials (AWS_PROFILE or the role), s3:ListBucket "
                          "and s3:GetObject on the bucket, and ONSFLUX_S3_ENDPOINT_URL for an "
                          "S3-compatible server")
                continue
            self._add("s3", "ok", f"{url}: listed {n} objects")

    def _fallback(self) -> None:
        path = self.settings.fallback_path
        if not path:
            self._fallback_from_store()
            return
        try:
            n = self._list(path)
        except OnsfluxError as exc:
            self._add("fallback", "fail", f"{path}: {exc}",
                      "point ONSFLUX_FALLBACK_PATH at the folder or s3:// prefix the ingest "
                      "reads")
            return
        if n == 0:
            self._add("fallback", "fail", f"{path} holds no data files",
                      "point ONSFLUX_FALLBACK_PATH at the folder or s3:// prefix the ingest "
                      "reads (Parquet or CSV files)")
            return
        self._add("fallback", "ok", f"{path}: {n} files the fallback can answer from")


    def _fallback_from_store(self) -> None:
        """Without ONSFLUX_FALLBACK_PATH the fallback reads the objects the state store
        records as ingested: there must be some, and they must still be readable."""
        try:
            store = (self.store_factory(self.settings) if self.store_factory is not None
                     else _store_for(self.settings))
            try:
                keys = [o.key for o in store.objects() if o.status == "ok"]
            finally:
                store.close()
        except Exception:  # noqa: BLE001 - the state check above reports it
            keys = []
        if not keys:
            self._add("fallback", "warn", "nothing ingested yet and ONSFLUX_FALLBACK_PATH is "
                      "not set: when InfluxDB is down, the API answers 503",
                      "ingest the files (`onsflux ingest`), or export ONSFLUX_FALLBACK_PATH="
                      "<folder or s3://bucket/prefix of the files>")
            return
        missing = []
        for key in keys[:20]:
            try:
                if self._list(key) == 0:
                    missing.append(key)
            except OnsfluxError:
                missing.append(key)
        if missing:
            self._add("fallback", "fail", f"{len(missing)} of the first {min(20, len(keys))} "
                      f"ingested objects can no longer be read (first: {missing[0]})",
                      "restore the files where they were ingested from, or export "
                      "ONSFLUX_FALLBACK_PATH=<where they are now>")
            return
        self._add("fallback", "ok", f"the {len(keys)} ingested objects the state store records "
                  "(ONSFLUX_FALLBACK_PATH not set)")


def _store_for(settings: Settings) -> Any:
    from ..state.store import store_for

    return store_for(settings)


def run(settings: Settings, *, s3_urls: list[str] | None = None) -> Report:
    return Doctor(settings, s3_urls=s3_urls).run()
