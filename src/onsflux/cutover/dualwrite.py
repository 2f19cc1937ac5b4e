"""Dual-write: every ingested batch also goes to Amazon Timestream (blue), so a rollback
loses nothing while the cutover runs (``onsflux ingest --also-write timestream``).

What this relies on (Timestream Write API reference, ``WriteRecords``):

- at most **100 records** per call; ``CommonAttributes`` could factor dimensions out, but
  rows differ in their dimensions, so each record carries its own;
- **multi-measure** records: ``MeasureName`` is the measurement, ``MeasureValueType``
  ``MULTI``, ``MeasureValues`` one ``{Name: field, Value: text, Type: DOUBLE}`` per
  non-null field; ``Dimensions`` are the row's tags (``VARCHAR``); ``Time`` in
  ``NANOSECONDS`` (exact). With ``settings.timestream_shape = "single"`` (tables in the
  legacy one-measure-per-record shape) each field is its own record instead
  (``MeasureName`` = the field, ``MeasureValueType`` ``DOUBLE``): the cutover's blue
  reader reads the same shape, so what is dual-written is what a rollback serves;
- ``Version``: the write time in microseconds. Timestream rejects a record with the same
  dimensions, time and measure name but different values unless its version is higher,
  so re-ingesting a corrected file updates blue as it updates InfluxDB (last write wins);
- ``RejectedRecordsException`` carries ``RejectedRecords[{RecordIndex, Reason,
  ExistingVersion?}]``: the other records of the call were written. Each entry becomes
  a reject naming the source row (``_row``) with Timestream's reason;
- ``ThrottlingException`` / ``InternalServerException`` (and 5xx) are transient: retried
  with exponential backoff and full jitter (``settings.max_attempts``), then raised as
  ``ServerUnavailable`` (the ingest records a dead letter, as for InfluxDB);
  everything else (``ValidationException``, ``ResourceNotFoundException``,
  ``AccessDeniedException``…) is terminal.

Tables: one per measurement in ``database`` (default ``ons_energy_data``), as the blue
reader expects.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..aws import error_code, translate_botocore
from ..exceptions import ServerUnavailable
from ..frames import ROW, TIME, empty_rejects, make_rejects
from ..settings import Settings

MAX_RECORDS = 100
DATABASE = "ons_energy_data"


@dataclass
class DualWriteStats:
    calls: int = 0
    records: int = 0
    rejected: int = 0
    retries: int = 0


class TimestreamWriter:
    """Writes validated frames to Timestream with ``WriteRecords`` (see the module docstring)."""

    name = "timestream"

    def __init__(self, settings: Settings, client: Any | None = None, *,
                 database: str = DATABASE, sleep: Callable[[float], None] = time.sleep,
                 now_us: Callable[[], int] = lambda: time.time_ns() // 1000) -> None:
        self.settings = settings
        self.database = database
        self._client = client
        self._sleep = sleep
        self._now_us = now_us
        self.stats = DualWriteStats()
        self.shape = settings.timestream_shape

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "timestream-write", region_name=self.settings.aws_region,
                config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        return self._client

    @staticmethod
    def records(measurement: str, frame: pl.DataFrame, tags: list[str], fields: list[str],
                version: int, shape: str = "multi") -> tuple[list[dict[str, Any]], list[int]]:
        """Records for the rows of ``frame`` and each record's source row (multi-measure,
        or one per field for ``shape="single"``); rows with no value give no record."""
        out: list[dict[str, Any]] = []
        rows: list[int] = []
        cols = [TIME, *tags, *fields, *([ROW] if ROW in frame.columns else [])]
        for i, rec in enumerate(frame.select([c for c in cols if c in frame.columns])
                                .iter_rows(named=True)):
            values = [{"Name": f, "Value": repr(float(rec[f])), "Type": "DOUBLE"}
                      for f in fields if rec.get(f) is not None]
            if not values:
                continue
            dims = [{"Name": t, "Value": str(rec[t]), "DimensionValueType": "VARCHAR"}
                    for t in tags if rec.get(t) not in (None, "")]
            row = int(rec[ROW]) if rec.get(ROW) is not None else i + 1
            if shape == "single":
                for v in values:
                    out.append({"Dimensions": dims, "MeasureName": v["Name"],
                                "MeasureValueType": "DOUBLE", "MeasureValue": v["Value"],
                                "Time": str(int(rec[TIME])), "TimeUnit": "NANOSECONDS",
                                "Version": version})
                    rows.append(row)
                continue
            out.append({"Dimensions": dims, "MeasureName": measurement,
                        "MeasureValueType": "MULTI", "MeasureValues": values,
                        "Time": str(int(rec[TIME])), "TimeUnit": "NANOSECONDS",
                        "Version": version})
            rows.append(row)
        return out, rows

    def write(self, source: str, measurement: str, frame: pl.DataFrame, tags: list[str],
              fields: list[str]) -> pl.DataFrame:
        """Write ``frame``; the rejects (rows Timestream refused, with its reason)."""
        records, rows = self.records(measurement, frame, tags, fields, self._now_us(),
                                     self.shape)
        rejects = [empty_rejects()]
        for start in range(0, len(records), MAX_RECORDS):
            batch = records[start:start + MAX_RECORDS]
            for index, reason in self._call(measurement, batch):
                row = rows[start + index] if 0 <= index < len(batch) else 0
                rejects.append(make_rejects(source, [row], "timestream",
                                            [_describe(batch[index]) if 0 <= index < len(batch)
                                             else None],
                                            f"Timestream refused the record: {reason}"))
        out = pl.concat(rejects)
        self.stats.rejected += out.height
        return out

    def _call(self, table: str, batch: list[dict[str, Any]]) -> list[tuple[int, str]]:
        """One ``WriteRecords`` (retried while transient); the rejected (index, reason)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                self.client.write_records(DatabaseName=self.database, TableName=table,
                                          Records=batch)
                self.stats.calls += 1
                self.stats.records += len(batch)
                return []
            except Exception as exc:  # noqa: BLE001 - classified below
                if error_code(exc) == "RejectedRecordsException":
                    self.stats.calls += 1
                    rejected = getattr(exc, "response", {}).get("RejectedRecords") or []
                    self.stats.records += len(batch) - len(rejected)
                    return [(int(r.get("RecordIndex", -1)), _reason(r)) for r in rejected]
                err = translate_botocore(exc, service="Timestream",
                                         where=f"WriteRecords {self.database}.{table}")
                if isinstance(err, ServerUnavailable) and attempt < self.settings.max_attempts:
                    self.stats.retries += 1
                    cap = min(self.settings.backoff_max_seconds,
                              self.settings.backoff_base_seconds * 2 ** (attempt - 1))
                    self._sleep(random.uniform(0, cap))
                    continue
                raise err from exc


def _reason(r: dict[str, Any]) -> str:
    reason = str(r.get("Reason") or "no reason given")
    if r.get("ExistingVersion") is not None:
        reason += f" (existing version {r['ExistingVersion']})"
    return reason


def _describe(record: dict[str, Any]) -> str:
    dims = ",".join(f"{d['Name']}={d['Value']}" for d in record["Dimensions"])
    vals = ",".join(f"{v['Name']}={v['Value']}" for v in record["MeasureValues"]) \
        if "MeasureValues" in record else f"{record['MeasureName']}={record['MeasureValue']}"
    return f"{dims} {vals} {record['Time']}"
