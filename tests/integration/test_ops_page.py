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


def _pipeline(api_url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{api_url}/ops/sections", headers=headers or {}, timeout=60)


def test_pipeline_data_and_auth(state: dict[str, Any], settings: Settings) -> None:
    from onsflux.ops.health import pipeline_health

    s = state["settings"]
    store = SqliteStateStore(s.state_path)
    try:
        body = pipeline_health(s, store)
    finally:
        store.close()
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
    assert body["queries"]["breaker"] in ("closed", "half_open", "open")
    keyed = s.with_overrides(api_keys="k1", api_auth="required")
    with Server(keyed) as api:
        assert _pipeline(api.url).status_code == 401
        ok = _pipeline(api.url, {"X-API-Key": "k1"})
        assert ok.status_code == 200
        ids = [x["id"] for x in ok.json()["sections"]]
        assert ids[0] == "pipeline" and "cutover" in ids  # one page, both sections
        assert httpx.get(f"{api.url}/ops", timeout=30).status_code == 200  # the static shell


def test_ops_page_in_headless_chromium(state: dict[str, Any]) -> None:
    with Server(state["settings"]) as api:
        dom = dump_dom(f"{api.url}/ops")
    section = dom.by_id("ops-pipeline")
    assert section is not None and section.attrs.get("data-ok") == "true"
    assert section.find("h2").text == "Pipeline health"  # type: ignore[union-attr]
    summary = dom.by_id("ph-ingest-summary").text  # type: ignore[union-attr]
    assert "3 objects (1 failed, 2 ok)" in summary and "1 rows rejected" in summary
    assert dom.by_id("ph-dead-count").text == "1 dead letters waiting"  # type: ignore[union-attr]
    dead_rows = section.find(cls="ph-dead").find("tbody").find_all("tr")  # type: ignore[union-attr]
    assert len(dead_rows) == 1 and "broken.parquet" in dead_rows[0].text
    recent = section.find(cls="ph-recent").find("tbody").find_all("tr")  # type: ignore[union-attr]
    assert len(recent) == 3
    mig = section.find(cls="ph-migrations").find("tbody").find("tr")  # type: ignore[union-attr]
    cells = [td.text for td in mig.find_all("td")]  # type: ignore[union-attr]
    parts = state["partitions"]
    assert cells[1] == f"{parts} / {parts}" and cells[2] == "0" and cells[5] == "done"
    assert cells[3] == f"{state['migrated']:,}"
    assert dom.by_id("ph-breaker").text in ("closed", "half_open", "open")  # type: ignore[union-attr]
    charts = section.find_all("svg")
    titles = [c.find(cls="title").text for c in charts]  # type: ignore[union-attr]
    assert titles == ["Points written per hour, last 24 h", "Rows rejected per hour, last 24 h",
                      "Points migrated over time",
                      "Fallback answers (cumulative) while this API runs"]
    for c in charts:  # axis titles with units, times in UTC
        axes = [t.text for t in c.find_all(cls="axis")]
        assert any(a.startswith("time (UTC") for a in axes), axes
        assert len(axes) == 2
    assert dom.by_id("ops-cutover") is not None  # the cutover's section on the same page
