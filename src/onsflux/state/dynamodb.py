"""The state store in AWS: one DynamoDB table, dead letters also sent to SQS.

Single-table layout (``pk``/``sk`` strings):

| pk | sk | item |
|---|---|---|
| ``obj#<key>`` | ``meta`` | the object record (status, counts, fingerprint…) |
| ``obj#<key>`` | ``rej#<n>`` | one rejected row (source, row, column, value, reason) |
| ``dlq#<key>`` | ``meta`` | the dead letter (open while it has no ``resolved_at``) |
| ``src#<measurement>`` | ``<key>`` | an ingested (``ok``) object holding that measurement |
| ``health#`` | ``meta`` | never written: ``ping`` reads it (a key lookup) |

The ``src#`` items are an index kept by ``finish`` and ``fail``, so the answer service
finds the objects behind a question with one ``Query`` on a key, and ``/health`` probes
with one ``GetItem``: neither ever scans the table (a scan reads, and bills, every item).

``begin`` claims the object with a conditional write, so two Lambda invocations of the
same S3 object (S3 delivers at least once) never ingest it at the same time: the second
gets ``ObjectBusy`` (transient — Lambda retries it later, when it is a cheap no-op).
A claim older than ``lease_seconds`` is considered abandoned (a crashed worker) and
can be taken over.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import polars as pl

from ..aws import client_config, error_code, translate_botocore
from ..exceptions import ObjectBusy, StateStoreError
from ..frames import REJECT_SCHEMA
from ..redact import redact
from ..retry import RetryPolicy
from .base import FAILED, OK, RUNNING, DeadLetter, ObjectRecord, redacted_rejects

_FIELDS = ("fingerprint", "status", "rows", "points", "rejected", "duplicates", "time_min_ns",
           "time_max_ns", "measurements", "attempts", "error", "verified", "started_at",
           "finished_at")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class DynamoStateStore:
    """``StateStore`` on DynamoDB (+ SQS for dead letters when ``queue_url`` is given)."""

    def __init__(self, table: str, *, region: str, queue_url: str | None = None,
                 lease_seconds: float = 900.0, session: Any = None,
                 endpoint_url: str | None = None, retry: RetryPolicy | None = None) -> None:
        import boto3
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        session = session or boto3.session.Session(region_name=region)
        self.table = table
        self.queue_url = queue_url
        self.lease_seconds = lease_seconds
        self._ddb = session.client("dynamodb", endpoint_url=endpoint_url, config=client_config())
        self._sqs = (session.client("sqs", endpoint_url=endpoint_url, config=client_config())
                     if queue_url else None)
        self._retry = retry or RetryPolicy()
        self._ser, self._de = TypeSerializer(), TypeDeserializer()

    # ------------------------------------------------------------------ plumbing
    def _call(self, op: str, **kwargs: Any) -> Any:
        """One DynamoDB call on our table under the retry policy."""
        return self._send(self._ddb, "DynamoDB", op, TableName=self.table, **kwargs)

    def _send(self, client: Any, service: str, op: str, **kwargs: Any) -> Any:
        """One AWS call under the retry policy, its errors translated (a failed
        condition is passed through: it is an answer, not an error)."""
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"{op} on {self.table!r}"

        def once(_attempt: int) -> Any:
            try:
                return getattr(client, op)(**kwargs)
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    raise
                raise translate_botocore(exc, service=service, where=where,
                                         terminal=StateStoreError) from exc
            except BotoCoreError as exc:
                raise translate_botocore(exc, service=service, where=where,
                                         terminal=StateStoreError) from exc

        return self._retry.call(once, what=f"{service} {where}")

    def _item(self, values: dict[str, Any]) -> dict[str, Any]:
        clean = {k: (Decimal(str(v)) if isinstance(v, float) else v)
                 for k, v in values.items() if v is not None}
        return {k: self._ser.serialize(v) for k, v in clean.items()}

    def _plain_item(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: _plain(self._de.deserialize(v)) for k, v in item.items()}

    def create_table(self) -> None:
        """Create the table (on-demand billing); for tests and first deployments."""
        self._ddb.create_table(
            TableName=self.table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
        )

    def _query_all(self, pk: str, prefix: str, limit: int | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":p": {"S": prefix}},
        }
        while True:
            page = self._call("query", **kwargs)
            items.extend(self._plain_item(i) for i in page.get("Items", []))
            if limit is not None and len(items) >= limit:
                return items[:limit]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _scan_all(self, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "FilterExpression": "begins_with(pk, :p) AND sk = :m",
            "ExpressionAttributeValues": {":p": {"S": prefix}, ":m": {"S": "meta"}},
        }
        while True:
            page = self._call("scan", **kwargs)
            items.extend(self._plain_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """Put/delete requests 25 at a time, until DynamoDB has processed every one."""
        for i in range(0, len(requests), 25):
            batch: dict[str, Any] = {self.table: requests[i:i + 25]}
            rounds = 0
            while batch:  # DynamoDB may hand back what it did not write this time
                if rounds:  # AWS asks for backoff before sending the unprocessed ones again
                    self._retry.sleep(self._retry.backoff(rounds))
                out = self._send(self._ddb, "DynamoDB", "batch_write_item", RequestItems=batch)
                batch = out.get("UnprocessedItems") or {}
                rounds += 1

    @staticmethod
    def _record(item: dict[str, Any]) -> ObjectRecord:
        values = {k: item.get(k) for k in _FIELDS}
        values["measurements"] = list(item.get("measurements") or [])
        for k in ("rows", "points", "rejected", "duplicates", "attempts"):
            values[k] = int(values[k] or 0)
        return ObjectRecord(key=item["pk"][4:], **values)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ StateStore
    def get(self, key: str) -> ObjectRecord | None:
        item = self._call("get_item", Key=self._item({"pk": f"obj#{key}", "sk": "meta"}),
                          ConsistentRead=True).get("Item")
        return self._record(self._plain_item(item)) if item else None

    def begin(self, key: str, fingerprint: str) -> ObjectRecord:
        from botocore.exceptions import ClientError

        now = time.time()
        try:
            self._call(
                "update_item",
                Key=self._item({"pk": f"obj#{key}", "sk": "meta"}),
                UpdateExpression=("SET fingerprint = :f, #s = :running, started_at = :now "
                                  "ADD attempts :one REMOVE finished_at, #e"),
                ConditionExpression=("attribute_not_exists(pk) OR #s <> :running "
                                     "OR started_at < :stale"),
                ExpressionAttributeNames={"#s": "status", "#e": "error"},
                ExpressionAttributeValues=self._item({
                    ":f": fingerprint, ":running": RUNNING, ":now": now, ":one": 1,
                    ":stale": now - self.lease_seconds,
                }),
            )
        except ClientError as exc:
            raise ObjectBusy(
                f"{key} is being ingested by another worker (claim younger than "
                f"{self.lease_seconds:.0f} s); retry later"
            ) from exc
        self.clear_rejects(key)
        record = self.get(key)
        assert record is not None
        return record

    def finish(self, record: ObjectRecord) -> None:
        record.finished_at = time.time()
        record.error = redact(record.error) if record.error else record.error
        previous = self.get(record.key)
        values = record.as_dict()
        key = values.pop("key")
        self._call("put_item", Item=self._item({"pk": f"obj#{key}", "sk": "meta", **values}))
        keep = set(record.measurements) if record.status == OK else set()
        stale = set(previous.measurements if previous else []) - keep
        requests: list[dict[str, Any]] = [
            {"PutRequest": {"Item": self._item({"pk": f"src#{m}", "sk": key, **values})}}
            for m in sorted(keep)]
        requests += [{"DeleteRequest": {"Key": self._item({"pk": f"src#{m}", "sk": key})}}
                     for m in sorted(stale)]
        self._batch_write(requests)
        if record.status == OK:
            self.resolve_dead_letter(key, only_open=True)

    def fail(self, key: str, fingerprint: str, kind: str, reason: str) -> None:
        now = time.time()
        reason = redact(reason)
        previous = self.get(key)
        if previous is not None and previous.measurements:  # no longer a source of answers
            self._batch_write([{"DeleteRequest": {"Key": self._item({"pk": f"src#{m}",
                                                                     "sk": key})}}
                               for m in previous.measurements])
        self._call(
            "update_item", Key=self._item({"pk": f"obj#{key}", "sk": "meta"}),
            UpdateExpression="SET #s = :failed, #e = :reason, finished_at = :now",
            ExpressionAttributeNames={"#s": "status", "#e": "error"},
            ExpressionAttributeValues=self._item({":failed": FAILED, ":reason": reason,
                                                  ":now": now}),
        )
        existing = self._call("get_item", Key=self._item({"pk": f"dlq#{key}", "sk": "meta"}),
                              ConsistentRead=True).get("Item")
        prev = self._plain_item(existing) if existing else {}
        still_open = bool(prev) and "resolved_at" not in prev
        letter = {
            "pk": f"dlq#{key}", "sk": "meta", "fingerprint": fingerprint, "kind": kind,
            "reason": reason, "attempts": int(prev.get("attempts", 0)) + 1 if still_open else 1,
            "first_failed_at": prev.get("first_failed_at", now) if still_open else now,
            "last_failed_at": now,
        }
        self._call("put_item", Item=self._item(letter))
        if self._sqs is not None:
            self._send(self._sqs, "SQS", "send_message", QueueUrl=self.queue_url,
                       MessageBody=json.dumps({"key": key, "fingerprint": fingerprint,
                                               "kind": kind, "reason": reason, "failed_at": now}))

    def add_rejects(self, key: str, rejects: pl.DataFrame) -> None:
        if rejects.height == 0:
            return
        self._batch_write([
            {"PutRequest": {"Item": self._item({"pk": f"obj#{key}", "sk": f"rej#{i:010d}", **r})}}
            for i, r in enumerate(redacted_rejects(rejects).select(list(REJECT_SCHEMA))
                                  .iter_rows(named=True))
        ])

    def clear_rejects(self, key: str) -> None:
        old = self._query_all(f"obj#{key}", "rej#")
        self._batch_write([{"DeleteRequest": {"Key": self._item({"pk": r["pk"], "sk": r["sk"]})}}
                           for r in old])

    def rejects(self, key: str | None = None, limit: int | None = None) -> pl.DataFrame:
        keys = [r.key for r in self.objects()] if key is None else [key]
        rows: list[dict[str, Any]] = []
        for k in keys:
            rows.extend(self._query_all(f"obj#{k}", "rej#",
                                        None if limit is None else limit - len(rows)))
            if limit is not None and len(rows) >= limit:
                break
        return pl.DataFrame([{c: r.get(c) for c in REJECT_SCHEMA} for r in rows],
                            schema=REJECT_SCHEMA)

    def objects(self) -> list[ObjectRecord]:
        return sorted((self._record(i) for i in self._scan_all("obj#")), key=lambda r: r.key)

    def objects_overlapping(self, measurement: str, start_ns: int, stop_ns: int
                            ) -> list[ObjectRecord]:
        """Ingested objects holding ``measurement`` with data in ``[start, stop)``: one
        ``Query`` on the ``src#`` index partition, never a scan."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "time_max_ns >= :start AND time_min_ns < :stop",
            "ExpressionAttributeValues": {":pk": {"S": f"src#{measurement}"},
                                          ":start": {"N": str(start_ns)},
                                          ":stop": {"N": str(stop_ns)}},
        }
        while True:
            page = self._call("query", **kwargs)
            items.extend(self._plain_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted((self._record({**i, "pk": f"obj#{i['sk']}"}) for i in items),
                      key=lambda r: r.key)

    def has_ingested(self) -> bool:
        """One ``Query`` with ``Limit=1`` per measurement on the ``src#`` index."""
        from ..catalog import MEASUREMENTS

        for m in MEASUREMENTS:
            page = self._call("query", KeyConditionExpression="pk = :pk", Limit=1,
                              ExpressionAttributeValues={":pk": {"S": f"src#{m}"}})
            if page.get("Items"):
                return True
        return False

    def ping(self) -> None:
        """One ``GetItem`` on a key that is never written: proves the table answers."""
        self._call("get_item", Key=self._item({"pk": "health#", "sk": "meta"}))

    def dead_letters(self) -> list[DeadLetter]:
        open_ = [i for i in self._scan_all("dlq#") if "resolved_at" not in i]
        return sorted(
            (DeadLetter(key=i["pk"][4:], fingerprint=i["fingerprint"], kind=i["kind"],
                        reason=i["reason"], attempts=int(i["attempts"]),
                        first_failed_at=float(i["first_failed_at"]),
                        last_failed_at=float(i["last_failed_at"])) for i in open_),
            key=lambda d: d.last_failed_at,
        )

    def resolve_dead_letter(self, key: str, *, only_open: bool = False) -> None:
        from botocore.exceptions import ClientError

        try:
            self._call(
                "update_item", Key=self._item({"pk": f"dlq#{key}", "sk": "meta"}),
                UpdateExpression="SET resolved_at = :now",
                ConditionExpression="attribute_exists(pk)" + (
                    " AND attribute_not_exists(resolved_at)" if only_open else ""),
                ExpressionAttributeValues=self._item({":now": time.time()}),
            )
        except ClientError:
            return  # no dead letter (or already resolved): nothing to do

    def close(self) -> None:
        return None
