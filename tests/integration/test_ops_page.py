"""The ``/ops`` page's pipeline-health section, rendered by headless Debian Chromium
against a real running API and the session's influxd.

The state behind it is made by the real pipeline: two sample files ingested (one with a
row out of range), one truncated file dead-lettered, and a Timestream UNLOAD export
migrated by ``migrate run`` (two partitions). Expected counts come from those files and
the planned partitions, not from the section's own code.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from onsflux import sample
from onsflux.influx import InfluxClient
from onsflux.ingest.pipeline import Ingestor
from onsflux.migrate import Migration
from onsflux.migrate import run as migrate_run
from onsflux.migrate.export import write_unload
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore
from tests.integration.test_api import Server
from tests.support.browser import dump_dom

pytestmark = pytest.mark.integration
START = date.today() - timedelta(days=3)
T0 = 1_704_067_200_000_000_000


@pytest.fixture
def state(settings: Settings, influx: InfluxClient, tmp_path: Path) -> dict[str, Any]:
    s = settings.with_overrides(api_auth="disabled")
    [gen, *_] = sample.write(sample.generate(days=2, start=START, seed=7), tmp_path / "w", "wide")
    good = pl.read_parquet(gen)
    one_bad = tmp_path / "one_bad.parquet"
    good.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(7.5)
                      .otherwise(pl.col("capacity_factor")).alias("capacity_factor")
                      ).write_parquet(one_bad)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(gen.read_bytes()[:300])
    store = SqliteStateStore(s.state_path)
    Ingestor(s, store, influx).ingest([str(gen), str(one_bad), str(broken)], force=True)
    store.close()
    # a migration: 2 days of hourly points for 3 regions, one partition per day
    n = 48
    frame = pl.DataFrame({"region": ["north", "south", "sin"] * n,
                          "time": [T0 + (i // 3) * 3_600 * 10**9 for i in range(3 * n)],
                          "demand_mw": [float(i) for i in range(3 * n)]})
    write_unload(tmp_path / "export", "consumption_data", frame,
                 {"region": "VARCHAR", "time": "TIMESTAMP", "demand_mw": "DOUBLE"})
    with Migration(s, str(tmp_path / "export")) as mig:
        plan = mig.plan(window="1d")
        mig.save(plan)
        total = len(mig.partitions())
        summary = migrate_run(mig, client=influx)
    assert summary.failed == 0 and total >= 2
    return {"settings": s, "good_rows": good.height, "partitions": total,
            "migrated": 3 * n}


def test_pipeline_json_and_auth(state: dict[str, Any], settings: Settings) -> None:
    with Server(state["settings"]) as api:
        body = httpx.get(f"{api.url}/ops/pipeline.json", timeout=60).json()
    ing = body["ingest"]
    assert ing["by_status"] == {"ok": 2, "failed": 1}
    assert ing["points"] == state["good_rows"] + state["good_rows"] - 1
    assert ing["rejected"] == 1
    assert [d["key"].rsplit("/", 1)[-1] for d in ing["dead_letters"]] == ["broken.parquet"]
    assert sum(b["points"] for b in ing["hourly"]) == ing["points"]  # all within 24 h
    [m] = body["migration"]["migrations"]
    assert (m["done"], m["partitions"], m["failed"]) == (state["partitions"],) * 2 + (0,)
    assert m["points"] == state["migrated"] and m["eta_s"] == 0.0
    assert m["cumulative"][-1]["points"] == state["migrated"]
    assert body["queries"]["breaker"] == "closed"
    keyed = settings.with_overrides(api_keys="k1")
    with Server(keyed) as api:
        assert httpx.get(f"{api.url}/ops/pipeline.json", timeout=60).status_code == 401
        ok = httpx.get(f"{api.url}/ops/pipeline.json", headers={"X-API-Key": "k1"}, timeout=60)
        assert ok.status_code == 200
        assert httpx.get(f"{api.url}/ops", timeout=30).status_code == 200  # the page is static


def test_ops_page_in_headless_chromium(state: dict[str, Any]) -> None:
    with Server(state["settings"]) as api:
        dom = dump_dom(f"{api.url}/ops")
    section = dom.by_id("pipeline-health")
    assert section is not None
    status = dom.by_id("ph-status")
    assert status is not None and status.text.startswith("Updated"), status and status.text
    summary = dom.by_id("ph-ingest-summary").text  # type: ignore[union-attr]
    assert "3 objects (1 failed, 2 ok)" in summary and "1 rows rejected" in summary
    assert dom.by_id("ph-dead-count").text == "1 waiting"  # type: ignore[union-attr]
    dead_rows = dom.by_id("ph-dead").find("tbody").find_all("tr")  # type: ignore[union-attr]
    assert len(dead_rows) == 1 and "broken.parquet" in dead_rows[0].text
    recent = dom.by_id("ph-recent").find("tbody").find_all("tr")  # type: ignore[union-attr]
    assert len(recent) == 3
    mig = dom.by_id("ph-migrations").find("tbody").find("tr")  # type: ignore[union-attr]
    cells = [td.text for td in mig.find_all("td")]  # type: ignore[union-attr]
    parts = state["partitions"]
    assert cells[1] == f"{parts} / {parts}" and cells[2] == "0" and cells[5] == "done"
    assert cells[3] == f"{state['migrated']:,}"
    assert dom.by_id("ph-breaker").text == "closed"  # type: ignore[union-attr]
    for chart_id, y_title in (("ph-chart-points", "points per hour"),
                              ("ph-chart-rejects", "rows / objects per hour"),
                              ("ph-chart-migration", "points (cumulative)"),
                              ("ph-chart-fallback", "answers (cumulative) / state")):
        fig = dom.by_id(chart_id)
        assert fig is not None, chart_id
        assert fig.find("figcaption").text  # type: ignore[union-attr]
        svg = fig.find("svg")
        assert svg is not None, chart_id
        assert svg.find(cls="x-title").text == "time (UTC)"  # type: ignore[union-attr]
        assert svg.find(cls="y-title").text == y_title  # type: ignore[union-attr]
    assert dom.by_id("ph-chart-points").find("path") is not None  # type: ignore[union-attr]
