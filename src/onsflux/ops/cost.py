"""``onsflux cost``: a monthly estimate for a data volume, on Timestream for InfluxDB and,
for the same volume, on Timestream LiveAnalytics. Pure: numbers in, numbers out.

The prices and per-class limits come from ``prices.toml`` beside this module (dated, with
its sources), overridable per key. How each line is computed:

InfluxDB side
- **instance**: the cheapest class whose limits hold the *peak* field writes/s
  (average × ``peak_write_factor``: ONS files arrive in bursts), the peak queries/s and
  the series count; × ``multi_az_factor`` for a standby.
- **storage**: field values kept over the retention × ``influx_bytes_per_value`` (InfluxData:
  non-string values take about 3 bytes), divided by 0.75 so the disk alarm (75%) is not
  reached at steady state, at least 20 GiB; the tier is the cheapest whose IOPS keep 30%
  headroom over the class's guideline IOPS.
- **ingest Lambda**: GB-seconds = million points × the client's measured CPU seconds per
  million points (``onsflux bench ingest``: 2.4 s) × the function's memory in GB; one
  request per object.
- **API**: API Gateway HTTP API requests and the API Lambda's GB-seconds (requests ×
  seconds per request × memory).
- **S3**: the Parquet files kept over the retention (bytes per value measured on
  ``onsflux sample --format processed``), PUT and GET per object.

Timestream LiveAnalytics side (same volume)
- **writes**: one multi-measure record per point, billed in 1 KiB units per record
  (record size = 8-byte time + dimension names and values + measure names + 8 bytes per
  double; batching with common attributes would lower it, so this is an upper bound);
- **memory store**: the records of ``memory_retention_hours`` held, per GB-hour;
- **magnetic store**: the records over the retention, per GB-month (uncompressed size);
- **queries**: queries × data scanned per query (at least 10 MB each), per GB.

Storage lines are the steady state, once the retention is full.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

#: AWS storage prices are per "GB" of 2**30 bytes (S3, Timestream); MB likewise 2**20
GIB = 1024**3
DAYS_PER_MONTH = 30.4167  # 365 / 12


def default_prices() -> dict[str, Any]:
    """The packaged price table (``prices.toml``)."""
    text = (resources.files("onsflux.ops") / "prices.toml").read_text("utf-8")
    return tomllib.loads(text)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` replaces what it names in ``base``, recursively."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_prices(path: str | Path | None = None,
                sets: list[str] | None = None) -> dict[str, Any]:
    """The packaged table, then a TOML file's values, then ``section.key=value`` pairs."""
    prices = default_prices()
    if path is not None:
        prices = merge(prices, tomllib.loads(Path(path).read_text(encoding="utf-8")))
    for item in sets or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected section.key=value")
        parts = [p.strip('"') for p in _split_key(key.strip())]
        node = prices
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ValueError(f"--set {item!r}: no section {p!r} in the price table")
            node = node[p]
        if parts[-1] not in node:
            raise ValueError(f"--set {item!r}: no key {parts[-1]!r} in {'.'.join(parts[:-1])}")
        node[parts[-1]] = float(raw)
    return prices


def _split_key(key: str) -> list[str]:
    """``a."db.influx.medium"`` -> ``["a", "db.influx.medium"]``."""
    out, buf, quoted = [], "", False
    for ch in key:
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            out.append(buf)
            buf = ""
        else:
            buf += ch
    out.append(buf)
    return out


@dataclass(frozen=True)
class Workload:
    """The data volume to price. Defaults: onsflux's own measurements and choices."""

    series: int
    points_per_day: float
    queries_per_day: float
    retention_days: float = 2555
    fields_per_point: float = 1.0
    objects_per_day: float = 24
    peak_write_factor: float = 10.0
    peak_query_factor: float = 10.0
    multi_az: bool = False
    influx_bytes_per_value: float = 3.0
    client_cpu_seconds_per_million_points: float = 2.4
    ingest_memory_gb: float = 2.0
    api_seconds_per_request: float = 0.039
    api_memory_gb: float = 1.0
    parquet_bytes_per_value: float = 8.0
    storage_tier: str | None = None
    # Timestream LiveAnalytics
    dimension_bytes: float = 37.0    # region+southeast, source+hydro, plant+itaipu
    measure_name_bytes: float = 11.0
    memory_retention_hours: float = 24.0
    query_scan_mb: float = 10.0

    def __post_init__(self) -> None:
        for name in ("series", "points_per_day", "queries_per_day", "retention_days",
                     "fields_per_point", "objects_per_day"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")


@dataclass
class Line:
    component: str
    quantity: float
    unit: str
    unit_price: float
    monthly: float
    note: str = ""


@dataclass
class Estimate:
    workload: Workload
    instance_class: str
    instance_reason: str
    storage_tier: str
    storage_gib: int
    influxdb: list[Line] = field(default_factory=list)
    liveanalytics: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    prices_date: str = ""

    @property
    def influxdb_total(self) -> float:
        return sum(x.monthly for x in self.influxdb)

    @property
    def liveanalytics_total(self) -> float:
        return sum(x.monthly for x in self.liveanalytics)

    def as_dict(self) -> dict[str, Any]:
        return {"workload": asdict(self.workload), "instance_class": self.instance_class,
                "instance_reason": self.instance_reason, "storage_tier": self.storage_tier,
                "storage_gib": self.storage_gib,
                "influxdb": [asdict(x) for x in self.influxdb],
                "influxdb_total": round(self.influxdb_total, 2),
                "liveanalytics": [asdict(x) for x in self.liveanalytics],
                "liveanalytics_total": round(self.liveanalytics_total, 2),
                "notes": self.notes, "prices_date": self.prices_date}


def choose_class(w: Workload, prices: dict[str, Any]) -> tuple[str, str, list[str]]:
    """The cheapest class whose limits hold the peak load; (class, why, notes)."""
    writes = w.points_per_day * w.fields_per_point / 86400 * w.peak_write_factor
    queries = w.queries_per_day / 86400 * w.peak_query_factor
    hourly = prices["influxdb"]["instance_hour"]
    classes = prices["influxdb_classes"]
    need = (f"peak {writes:,.0f} field writes/s, {queries:,.2f} queries/s, "
            f"{w.series:,} series")
    fitting = [c for c, lim in classes.items() if c in hourly
               and lim["field_writes_per_s"] >= writes and lim["queries_per_s"] >= queries
               and lim["series"] >= w.series]
    if fitting:
        best = min(fitting, key=lambda c: (hourly[c], c))
        lim = classes[best]
        return best, (f"{need} ≤ its {lim['field_writes_per_s']:,} writes/s, "
                      f"{lim['queries_per_s']} queries/s, {lim['series']:,} series"), []
    biggest = max((c for c in classes if c in hourly), key=lambda c: hourly[c])
    return biggest, need, [f"{need} exceeds every class's single-node limits: "
                           "split the data over instances, or lower the peak factors"]


def _class_iops(lim: dict[str, Any]) -> int:
    """InfluxData's guideline IOPS for the tier a class's limits come from."""
    return 500 if lim["field_writes_per_s"] <= 5000 else 1000


def estimate(w: Workload, prices: dict[str, Any] | None = None) -> Estimate:
    p = prices or default_prices()
    hours = float(p["meta"]["hours_per_month"])
    notes: list[str] = []
    cls, why, more = choose_class(w, p)
    notes += more
    iops_needed = _class_iops(p["influxdb_classes"][cls])
    tiers = p["influxdb"]["storage_tier_iops"]
    tier = w.storage_tier or min(
        (t for t in tiers if tiers[t] * 0.7 >= iops_needed),
        key=lambda t: p["influxdb"]["storage_gb_month"][t])
    values_kept = w.points_per_day * w.fields_per_point * w.retention_days
    data_gib = values_kept * w.influx_bytes_per_value / GIB
    storage_gib = max(20, math.ceil(data_gib / 0.75))
    az = p["influxdb"]["multi_az_factor"] if w.multi_az else 1.0

    points_month = w.points_per_day * DAYS_PER_MONTH
    objects_month = w.objects_per_day * DAYS_PER_MONTH
    queries_month = w.queries_per_day * DAYS_PER_MONTH
    ingest_gbs = points_month / 1e6 * w.client_cpu_seconds_per_million_points * w.ingest_memory_gb
    api_gbs = queries_month * w.api_seconds_per_request * w.api_memory_gb
    lam, apig, s3 = p["lambda"], p["api_gateway"], p["s3"]
    parquet_gib = values_kept * w.parquet_bytes_per_value / GIB

    inst_price = p["influxdb"]["instance_hour"][cls] * az
    influx = [
        Line(f"instance {cls}" + (" (Multi-AZ)" if w.multi_az else ""), hours, "hours",
             inst_price, hours * inst_price, why),
        Line(f"storage {tier}", storage_gib * az, "GiB-month",
             p["influxdb"]["storage_gb_month"][tier],
             storage_gib * az * p["influxdb"]["storage_gb_month"][tier],
             f"{data_gib:,.1f} GiB of data at {w.influx_bytes_per_value} bytes per value, "
             "sized for 75% use"),
        Line("ingest Lambda compute", ingest_gbs, "GB-seconds", lam["gb_second"],
             ingest_gbs * lam["gb_second"],
             f"{w.client_cpu_seconds_per_million_points} s per million points × "
             f"{w.ingest_memory_gb} GB"),
        Line("Lambda requests (ingest + API)", (objects_month + queries_month) / 1e6,
             "million requests", lam["million_requests"],
             (objects_month + queries_month) / 1e6 * lam["million_requests"]),
        Line("API Lambda compute", api_gbs, "GB-seconds", lam["gb_second"],
             api_gbs * lam["gb_second"],
             f"{w.api_seconds_per_request} s per request × {w.api_memory_gb} GB"),
        Line("API Gateway (HTTP API)", queries_month / 1e6, "million requests",
             apig["million_requests"], queries_month / 1e6 * apig["million_requests"]),
        Line("S3 storage (Parquet files)", parquet_gib, "GB-month", s3["gb_month"],
             parquet_gib * s3["gb_month"],
             f"{w.parquet_bytes_per_value} bytes per value over the retention"),
        Line("S3 requests", objects_month / 1000, "thousand PUT + GET",
             s3["thousand_put"] + s3["thousand_get"],
             objects_month / 1000 * (s3["thousand_put"] + s3["thousand_get"])),
    ]

    t = p["timestream_liveanalytics"]
    record = (8 + w.dimension_bytes + w.fields_per_point * (w.measure_name_bytes + 8))
    units = math.ceil(record / 1024)
    memory_gb = w.points_per_day / 24 * w.memory_retention_hours * record / GIB
    magnetic_gb = w.points_per_day * w.retention_days * record / GIB
    scanned_gb = queries_month * max(w.query_scan_mb, t["query_min_mb"]) / 1024
    live = [
        Line("writes", points_month * units / 1e6, "million 1 KiB writes", t["million_writes"],
             points_month * units / 1e6 * t["million_writes"],
             f"one {record:.0f}-byte record per point, {units} KiB unit(s) each"),
        Line("memory store", memory_gb * hours, "GB-hours", t["memory_gb_hour"],
             memory_gb * hours * t["memory_gb_hour"],
             f"{w.memory_retention_hours:g} h of records held"),
        Line("magnetic store", magnetic_gb, "GB-month", t["magnetic_gb_month"],
             magnetic_gb * t["magnetic_gb_month"], f"{w.retention_days:g} days of records"),
        Line("queries", scanned_gb, "GB scanned", t["query_gb_scanned"],
             scanned_gb * t["query_gb_scanned"],
             f"{max(w.query_scan_mb, t['query_min_mb']):g} MB per query (10 MB minimum)"),
    ]
    return Estimate(w, cls, why, tier, storage_gib, influx, live, notes,
                    str(p["meta"].get("date", "")))
