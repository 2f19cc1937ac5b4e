"""``onsflux cost`` against hand calculations.

A price table with round numbers (not the packaged one, so a price update cannot move
these tests) and a workload of 1,000 points/s, 1 query/s, one year of retention. Each
expected figure is worked out in the comment above it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from onsflux.ops.cost import Workload, choose_class, default_prices, estimate, load_prices

PRICES: dict[str, Any] = {
    "meta": {"date": "2026-12-01", "hours_per_month": 730},
    "influxdb": {
        "multi_az_factor": 2.0,
        "instance_hour": {"small": 0.1, "big": 1.0},
        "storage_gb_month": {"T1": 0.2, "T2": 0.3},
        "storage_tier_iops": {"T1": 3000, "T2": 12000},
    },
    "influxdb_classes": {
        "small": {"field_writes_per_s": 5000, "queries_per_s": 5, "series": 100_000},
        "big": {"field_writes_per_s": 250_000, "queries_per_s": 25, "series": 1_000_000},
    },
    "lambda": {"gb_second": 0.00001, "million_requests": 0.2},
    "api_gateway": {"million_requests": 1.0},
    "s3": {"gb_month": 0.023, "thousand_put": 0.005, "thousand_get": 0.0004},
    "timestream_liveanalytics": {"million_writes": 0.5, "memory_gb_hour": 0.036,
                                 "magnetic_gb_month": 0.03, "query_gb_scanned": 0.01,
                                 "query_min_mb": 10},
}
W = Workload(series=1000, points_per_day=86_400_000, queries_per_day=86_400,
             retention_days=365)


def line(lines: list[Any], prefix: str) -> Any:
    [found] = [x for x in lines if x.component.startswith(prefix)]
    return found


def test_instance_class_follows_the_peak_load() -> None:
    # 1,000 points/s × 1 field × peak factor 10 = 10,000 field writes/s > small's 5,000
    cls, why, notes = choose_class(W, PRICES)
    assert cls == "big" and not notes
    assert "10,000 field writes/s" in why
    # 300 points/s × 10 = 3,000 ≤ 5,000, 1 query/s × 10 = 10 > small's 5 queries/s: big
    assert choose_class(Workload(1000, 300 * 86400, 86_400), PRICES)[0] == "big"
    # 300 points/s and 0.1 query/s (peak 1): small holds it, and is cheaper
    assert choose_class(Workload(1000, 300 * 86400, 8_640), PRICES)[0] == "small"
    # 2,000,000 series exceed every class: the largest, with a note
    cls, _, notes = choose_class(Workload(2_000_000, 86400, 0), PRICES)
    assert cls == "big" and "exceeds" in notes[0]


def test_influxdb_side_by_hand() -> None:
    e = estimate(W, PRICES)
    # 730 h × $1.00
    assert line(e.influxdb, "instance big").monthly == pytest.approx(730.0)
    # 86.4e6 values/day × 365 d × 3 B = 94.608e9 B = 88.11 GiB; / 0.75 = 117.48 -> 118 GiB;
    # big's guideline IOPS 1,000 ≤ 70% of T1's 3,000 -> T1 at $0.20: $23.60
    assert (e.storage_tier, e.storage_gib) == ("T1", 118)
    assert line(e.influxdb, "storage T1").monthly == pytest.approx(23.6)
    # 86.4e6 × 30.4167 d = 2,628.00288 million points × 2.4 s × 2 GB = 12,614.41 GB-s
    # × $0.00001 = $0.1261
    assert line(e.influxdb, "ingest Lambda").quantity == pytest.approx(12_614.413824)
    assert line(e.influxdb, "ingest Lambda").monthly == pytest.approx(0.12614413824)
    # 86,400 × 30.4167 = 2,628,002.88 queries × 0.039 s × 1 GB = 102,492.11 GB-s = $1.0249
    assert line(e.influxdb, "API Lambda").monthly == pytest.approx(1.0249211232)
    # 2.628 million requests × $1.00
    assert line(e.influxdb, "API Gateway").monthly == pytest.approx(2.62800288)
    # (24 × 30.4167 objects + 2,628,002.88 queries) / 1e6 × $0.20
    assert line(e.influxdb, "Lambda requests").monthly == pytest.approx(0.52574657616)
    # 86.4e6 × 365 × 8 B = 234.96 GiB × $0.023 = $5.404
    assert line(e.influxdb, "S3 storage").monthly == pytest.approx(5.404114723)
    # 730.0008 objects / 1000 × ($0.005 + $0.0004)
    assert line(e.influxdb, "S3 requests").monthly == pytest.approx(0.00394200432)
    assert e.influxdb_total == pytest.approx(730 + 23.6 + 0.12614413824 + 1.0249211232
                                             + 2.62800288 + 0.52574657616 + 5.404114723
                                             + 0.00394200432)


def test_liveanalytics_side_by_hand() -> None:
    e = estimate(W, PRICES)
    # record: 8 (time) + 37 (dimensions) + 1 × (11 + 8) = 64 B -> one 1 KiB unit;
    # 2,628.00288 million writes × $0.50
    assert line(e.liveanalytics, "writes").monthly == pytest.approx(1314.00144)
    # 3.6e6 points/h × 24 h × 64 B = 5.1498 GiB × 730 h × $0.036 = $135.34
    assert line(e.liveanalytics, "memory").monthly == pytest.approx(135.33782958984375)
    # 86.4e6 × 365 × 64 B = 1,879.69 GiB × $0.03 = $56.39
    assert line(e.liveanalytics, "magnetic").monthly == pytest.approx(56.39076232910156)
    # 2,628,002.88 queries × 10 MB (the minimum) / 1024 = 25,664.09 GB × $0.01
    assert line(e.liveanalytics, "queries").monthly == pytest.approx(256.64090625)
    # a query scanning 1 MB is still billed 10 MB
    small_scan = estimate(Workload(1000, 86_400_000, 86_400, 365, query_scan_mb=1), PRICES)
    assert line(small_scan.liveanalytics, "queries").monthly == pytest.approx(256.64090625)


def test_multi_az_doubles_instance_and_storage() -> None:
    single = estimate(W, PRICES)
    multi = estimate(Workload(1000, 86_400_000, 86_400, 365, multi_az=True), PRICES)
    assert line(multi.influxdb, "instance").monthly == pytest.approx(
        2 * line(single.influxdb, "instance").monthly)
    assert line(multi.influxdb, "storage").monthly == pytest.approx(
        2 * line(single.influxdb, "storage").monthly)


def test_minimum_storage_is_20_gib() -> None:
    e = estimate(Workload(600, 14_000, 100), PRICES)
    assert e.instance_class == "small" and e.storage_gib == 20


def test_packaged_table_is_dated_sourced_and_complete() -> None:
    p = default_prices()
    assert p["meta"]["date"] and len(p["meta"]["sources"]) >= 5
    assert set(p["influxdb"]["instance_hour"]) == set(p["influxdb_classes"])
    for tier in p["influxdb"]["storage_gb_month"]:
        assert tier in p["influxdb"]["storage_tier_iops"]
    # the classes' hardware as AWS publishes it (supported instance types page)
    assert p["influxdb_classes"]["db.influx.xlarge"]["vcpu"] == 4
    assert p["influxdb_classes"]["db.influx.xlarge"]["memory_gib"] == 32
    e = estimate(Workload(600, 14_000, 100), p)  # ONS-sized: the smallest class
    assert e.instance_class == "db.influx.medium"


def test_prices_are_overridable(tmp_path: Path) -> None:
    override = tmp_path / "prices.toml"
    override.write_text('[influxdb.instance_hour]\n"db.influx.medium" = 0.5\n')
    p = load_prices(override, ["lambda.gb_second=0.001"])
    assert p["influxdb"]["instance_hour"]["db.influx.medium"] == 0.5
    assert p["influxdb"]["instance_hour"]["db.influx.large"] == \
        default_prices()["influxdb"]["instance_hour"]["db.influx.large"]
    assert p["lambda"]["gb_second"] == 0.001
    assert load_prices(sets=['influxdb.instance_hour."db.influx.large"=9'])[
        "influxdb"]["instance_hour"]["db.influx.large"] == 9
    with pytest.raises(ValueError, match="no key"):
        load_prices(sets=["lambda.nope=1"])
    with pytest.raises(ValueError, match="expected section.key=value"):
        load_prices(sets=["lambda.gb_second"])
    untouched = copy.deepcopy(default_prices())
    assert untouched == default_prices()  # overriding never edits the packaged table


def test_bad_workload_is_refused() -> None:
    with pytest.raises(ValueError, match="points_per_day cannot be negative"):
        Workload(10, -1, 0)
