"""The /ops page's cutover section, rendered by headless Debian Chromium (``--dump-dom``
after its script fetched /ops/sections with the API key), behind the API's own auth."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from onsflux.api.ops import SECTIONS, OpsSection, register, render_sections
from onsflux.cutover.state import (
    ComparisonRecord,
    CutoverState,
    MismatchRecord,
    SqliteCutoverStore,
)
from onsflux.settings import Settings
from tests.integration.test_api import Server
from tests.support.browser import dump_dom

pytestmark = pytest.mark.integration


def _populate(settings: Settings) -> None:
    store = SqliteCutoverStore(settings.state_path)
    now = time.time()
    st = store.transition(CutoverState(phase="shadow", blue="files", files_path="/data",
                                       sample=0.5, session_started=now - 600),
                          expected_version=0, action="shadow", who="os:ana",
                          reason="start comparing")
    store.transition(replace(st, phase="canary", percent=5.0), expected_version=st.version,
                     action="shift", who="os:ana", reason="first canary", forced=True,
                     gate={"ok": False})
    recs = []
    for i in range(40):  # two minutes of comparisons, one value mismatch
        recs.append(ComparisonRecord(now - 300 + i * 5, f"h{i}", "value" if i == 7 else "match",
                                     False, "blue", 10.0 + i % 3, 14.0 + i % 5, False, False))
    recs += [ComparisonRecord(now - 100, "c1", "match", True, "blue", 9.0, None, False, False)]
    store.add_comparisons(recs)
    store.add_mismatch(MismatchRecord(
        now - 265, "h7", {"measurement": "consumption_data", "fields": ["demand_mw"]}, "value",
        False, "aaa", "bbb", 3, 3, {"value": 1, "missing": 0, "extra": 0},
        [{"kind": "value", "field": "demand_mw", "tags": {"region": "south"},
          "time": "2024-03-02T11:00:00Z", "time_ns": 1, "control": 12000.5,
          "candidate": 12007.75}], ""))
    store.close()


def test_ops_page_shows_the_cutover_to_a_key_holder_only(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path, api_keys="k-ops-1", influxdb_url="http://127.0.0.1:9")
    _populate(s)
    with Server(s) as server:
        r = httpx.get(f"{server.url}/ops/sections")
        assert r.status_code == 401 and "canary" not in r.text
        shell = httpx.get(f"{server.url}/ops").text
        assert "canary" not in shell and "12007" not in shell  # the shell holds no data

        dom = dump_dom(f"{server.url}/ops#key=k-ops-1")
        section = dom.by_id("ops-cutover")
        assert section is not None, dom.text[:500]
        assert section.find("h2").text == "Cutover (blue-green)"
        assert dom.by_id("cutover-phase").text == "canary 5%"
        consistency = dom.by_id("cutover-consistency").text
        assert "consistency 97.500% over 40 comparisons" in consistency
        assert "noise floor 0.000% over 1 control runs" in consistency
        gate = section.find("table", cls="gate").text
        assert "960 short of the 1000 needed" in gate and "no migrate verify recorded" in gate
        assert "gate: closed" in dom.by_id("cutover-gate").text
        mism = section.find("table", cls="mismatches").text
        assert "region=south" in mism and "12000.5" in mism and "12007.75" in mism
        assert "2024-03-02T11:00:00Z" in mism
        audit = section.find("table", cls="audit").text
        assert "os:ana" in audit and "first canary" in audit and "yes" in audit
        svg = section.find("svg")
        assert svg is not None
        assert {p.attrs.get("data-side") for p in svg.find_all("polyline")} == {"blue", "green"}
        labels = svg.text
        assert "p95 latency (ms)" in labels and "time (UTC" in labels
        assert "p95 latency per side, per minute" in labels

        wrong = dump_dom(f"{server.url}/ops#key=nope")
        assert wrong.by_id("ops-cutover") is None
        assert "invalid API key" in wrong.by_id("auth-msg").text


def test_sections_can_be_added_and_one_failing_does_not_hide_the_others(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path)

    def broken(_: Settings) -> str:
        raise RuntimeError("boom")

    register(OpsSection("zz-test-ok", "Another section", lambda _: "<p>fine</p>", order=200))
    register(OpsSection("zz-test-broken", "Broken section", broken, order=201))
    try:
        out = {x["id"]: x for x in render_sections(s)}
        order = list(out)  # by each section's order (pipeline health 10, cutover 30, …)
        assert order.index("cutover") < order.index("zz-test-ok") < order.index("zz-test-broken")
        assert out["zz-test-ok"]["html"] == "<p>fine</p>" and out["zz-test-ok"]["ok"]
        assert not out["zz-test-broken"]["ok"]
        assert "RuntimeError" in out["zz-test-broken"]["html"]
        assert "no cutover" not in out["cutover"]["html"] and out["cutover"]["ok"]
    finally:
        SECTIONS.pop("zz-test-ok")
        SECTIONS.pop("zz-test-broken")
