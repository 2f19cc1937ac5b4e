"""The analyst web page, rendered by headless Debian Chromium against a real running API.

Each test serves the app with uvicorn (the session's influxd behind it, two weeks of
sample data ingested), loads ``/?q=…`` in ``chromium --headless --dump-dom`` (the page's
script asks the API and draws), and reads what an analyst would see: the chart's kind,
title, axis titles and legend, the table's columns and cells, the CSV link, the details,
the candidates and the error states. Clicks, typing and a phone-sized screen go through
the DevTools protocol (``Browser``) on the same headless Chromium. Expected numbers, dates
and names are computed from the sample files with polars and formatted here, never taken
from the service.

The service clock is fixed (Monday 18 March 2024, 12:00 Brasília time) so "semana passada"
is 11–17 March 2024 and the expected dates can be written down.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from onsflux import catalog, sample
from onsflux.api import create_app
from onsflux.api.app import default_service
from onsflux.influx import InfluxClient
from onsflux.ingest.pipeline import Ingestor
from onsflux.settings import Settings
from onsflux.state.store import SqliteStateStore
from tests.conftest import fast_settings
from tests.integration.test_api import Server
from tests.support.browser import Browser, Dom, Node, dump_dom
from tests.support.s3 import free_port

pytestmark = pytest.mark.integration

BRT = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2024, 3, 18, 15, 0, tzinfo=UTC)  # Monday, 12:00 in Brasília
WEEK = (datetime(2024, 3, 11, 3, tzinfo=UTC), datetime(2024, 3, 18, 3, tzinfo=UTC))  # BRT midnights
NAMES = {catalog.slug(p.name): p.name for p in sample.PLANTS}
SOURCES_PT = {"hydro": "Hidrelétrica", "thermal": "Térmica", "wind": "Eólica",
              "solar": "Solar", "nuclear": "Nuclear"}


def pt(v: float, decimals: int = 0) -> str:
    """pt-BR number: 1.234.567,8"""
    return f"{v:,.{decimals}f}".replace(",", "\0").replace(".", ",").replace("\0", ".")


def en(v: float, decimals: int = 0) -> str:
    return f"{v:,.{decimals}f}"


def either(fmt: Any, v: float, *args: Any) -> set[str]:
    """``v`` formatted, either way of a half: the server's sum of floats may land a hair
    below or above a value the files sum to exactly (45573.5)."""
    return {fmt(v * (1 - 1e-12), *args), fmt(v * (1 + 1e-12), *args)}


@pytest.fixture(scope="module")
def week_data(influx_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two weeks of sample data (4–17 March 2024) ingested once for the module."""
    tmp = tmp_path_factory.mktemp("page")
    # a generous timeout: the server recomputes its hourly rollup after the ingest, and this
    # machine is shared (what is tested here is the page, not the client's timeouts)
    s = fast_settings(influx_server.url, tmp, timeout_seconds=60)
    d = sample.generate(days=14, start=date(2024, 3, 4), seed=21)
    files = sample.write(d, tmp / "wide", "wide")
    with InfluxClient(s, url=influx_server.url) as client:
        for bucket in catalog.BUCKETS:
            client.query(f'DROP DATABASE "{bucket}"')
        store = SqliteStateStore(s.state_path)
        summary = Ingestor(s, store, client).ingest([str(f) for f in files])
        store.close()
    assert summary.failed == 0 and summary.rejected == 0
    return {"sample": d, "settings": s, "folder": tmp / "wide"}


def _serve(s: Settings) -> Server:
    def factory() -> Any:
        svc = default_service(s)
        svc.now = lambda: NOW
        return svc

    server = Server(s)
    server.server.config.app = create_app(s, service_factory=factory)
    server.server.config.loaded = False
    return server


@pytest.fixture(scope="module")
def api(week_data: dict[str, Any]) -> Iterator[Server]:
    s = week_data["settings"].with_overrides(api_auth="disabled")
    with _serve(s) as server:
        yield server


def page(server: Server, question: str, **kw: Any) -> Dom:
    return dump_dom(f"{server.url}/?q={urllib.parse.quote(question)}", **kw)


def week(frame: pl.DataFrame) -> pl.DataFrame:
    t = pl.col("time").cast(pl.Datetime("ns", "UTC"))
    return frame.filter((t >= WEEK[0]) & (t < WEEK[1]))


def local_day(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("time").cast(pl.Datetime("ns", "UTC")).dt.convert_time_zone(str(BRT))
        .dt.date().alias("day"))


def table(dom: Dom) -> tuple[list[str], list[list[str]]]:
    t = dom.by_id("data")
    assert t is not None, "no table"
    head = [th.text for th in t.find_all("th")]
    assert all(th.attrs.get("scope") == "col" for th in t.find_all("th"))
    body = t.find("tbody")
    assert body is not None
    return head, [[td.text for td in tr.find_all("td")] for tr in body.find_all("tr")]


def figure(dom: Dom) -> Node:
    fig = dom.by_id("chart")
    assert fig is not None, "no chart"
    svg = fig.find("svg")
    assert svg is not None and svg.attrs["role"] == "img"
    for ref in svg.attrs["aria-labelledby"].split():  # the chart's accessible name exists
        assert dom.by_id(ref) is not None and dom.by_id(ref).text  # type: ignore[union-attr]
    return fig


def csv_rows(dom: Dom) -> list[list[str]]:
    link = dom.by_id("csv")
    assert link is not None and link.attrs["download"].endswith(".csv")
    prefix = "data:text/csv;charset=utf-8,"
    assert link.attrs["href"].startswith(prefix)
    text = urllib.parse.unquote(link.attrs["href"][len(prefix):]).lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def test_daily_trend_by_source_in_portuguese(api: Server, week_data: dict[str, Any]) -> None:
    dom = page(api, "Geração por fonte por dia na semana passada")
    assert dom.find("html").attrs["lang"] == "pt-BR"  # type: ignore[union-attr]
    fig = figure(dom)
    assert fig.attrs["data-kind"] == "line"
    caption = fig.find("figcaption").text  # type: ignore[union-attr]
    assert caption.startswith("Geração") and "11/03/2024 a 17/03/2024" in caption
    assert fig.find("text", cls="y-title").text == "Energia gerada (MWh)"  # type: ignore[union-attr]
    x_title = fig.find("text", cls="x-title").text  # type: ignore[union-attr]
    assert "horário de Brasília" in x_title and "America/Sao_Paulo" in x_title
    legend = [li.text for li in fig.find("ul", cls="legend").find_all("li")]  # type: ignore[union-attr]
    assert sorted(legend) == sorted(SOURCES_PT.values())
    ticks = [t.text for g in fig.find_all("g", cls="tick") for t in g.find_all("text")]
    assert "11/03" in ticks and "17/03" in ticks  # local days, not UTC instants
    assert not re.search(r"\b(hydro|wind|thermal)\b", fig.text)

    # the table: local days, people's column names, values from the files (MWmed × 1 h)
    gen = local_day(week(week_data["sample"].generation))
    want = {(r["day"].strftime("%d/%m/%Y"), SOURCES_PT[r["source"]]): r["power_mw"]
            for r in gen.group_by("day", "source").agg(pl.col("power_mw").sum()).to_dicts()}
    head, rows = table(dom)
    assert head == ["Início da janela (horário de Brasília)", "Fonte", "Energia gerada (MWh)"]
    assert len(rows) == len(want) == 7 * 5
    assert rows[0][0] == "11/03/2024"  # sorted by time, first window = first local day
    for day, source, value in rows:
        assert value in either(pt, want[(day, source)]), (day, source)

    # the CSV: every row, local time with its offset, UTC, names and slugs, raw numbers
    rows_csv = csv_rows(dom)
    assert rows_csv[0][:4] == ["Início da janela (horário de Brasília)", "UTC", "Fonte", "source"]
    assert len(rows_csv) == 1 + len(want)
    first = rows_csv[1]
    assert first[0] == "2024-03-11T00:00:00-03:00" and first[1] == "2024-03-11T03:00:00Z"
    assert float(first[-1]) == pytest.approx(want[("11/03/2024", first[2])], rel=1e-9)


def test_ranking_in_english_uses_plant_names(api: Server, week_data: dict[str, Any]) -> None:
    dom = page(api, "Which 5 plants generated the most last week?", lang="en-US")
    assert dom.find("html").attrs["lang"] == "en-US"  # type: ignore[union-attr]
    assert dom.by_id("ask").text == "Ask"  # type: ignore[union-attr]
    fig = figure(dom)
    assert fig.attrs["data-kind"] == "bar"
    gen = week(week_data["sample"].generation)
    top = (gen.group_by("plant").agg(pl.col("power_mw").sum())
           .sort("power_mw", descending=True).head(5).to_dicts())
    labels = [t.text for t in fig.find_all("text", cls="bar-label")]
    values = [t.text for t in fig.find_all("text", cls="bar-value")]
    assert labels == [NAMES[r["plant"]] for r in top]
    for got, r in zip(values, top, strict=True):
        assert got in {f"{v}\u00a0MWh" for v in either(en, r["power_mw"])}
    assert fig.find("text", cls="x-title").text == "Energy generated (MWh)"  # type: ignore[union-attr]
    caption = fig.find("figcaption").text  # type: ignore[union-attr]
    assert "top 5" in caption and "Mar 11, 2024 to Mar 17, 2024" in caption
    head, rows = table(dom)
    assert head == ["Period start (Brasília time)", "Plant", "Energy generated (MWh)"]
    assert [r[1] for r in rows] == labels and rows[0][0] == "03/11/2024, 12:00 AM"


def test_share_of_sources_as_bars_of_percent(api: Server, week_data: dict[str, Any]) -> None:
    dom = page(api, "Participação das fontes na geração da semana passada")
    fig = figure(dom)
    assert fig.attrs["data-kind"] == "share"
    gen = week(week_data["sample"].generation)
    by = gen.group_by("source").agg(pl.col("power_mw").sum()).sort("power_mw", descending=True)
    total = by["power_mw"].sum()
    want = [(SOURCES_PT[r["source"]], either(pt, 100 * r["power_mw"] / total, 1))
            for r in by.to_dicts()]
    labels = [t.text for t in fig.find_all("text", cls="bar-label")]
    values = [t.text.removesuffix("\u00a0%") for t in fig.find_all("text", cls="bar-value")]
    assert labels == [w[0] for w in want]
    assert all(v in w[1] for v, w in zip(values, want, strict=True)), (values, want)
    assert fig.find("text", cls="x-title").text == "Participação no total (%)"  # type: ignore[union-attr]
    head, rows = table(dom)  # the energy behind the shares, and the shares
    assert head[-2:] == ["Energia gerada (MWh)", "Participação no total (%)"]
    assert [r[-1] for r in rows] == values


def test_single_peak_details_and_sources(api: Server, week_data: dict[str, Any]) -> None:
    dom = page(api, "Qual foi o pico de carga no Sudeste na semana passada?")
    assert dom.by_id("chart") is None  # one number: no chart
    load = week(week_data["sample"].consumption).filter(pl.col("region") == "southeast")
    peak = load.sort("demand_mw", descending=True).row(0, named=True)
    at = peak["time"].replace(tzinfo=UTC) if peak["time"].tzinfo is None else peak["time"]
    head, rows = table(dom)
    assert head == ["Data e hora (horário de Brasília)", "Subsistema", "Carga (MW)"]
    assert rows == [[at.astimezone(BRT).strftime("%d/%m/%Y, %H:%M"), "Sudeste/Centro-Oeste",
                     pt(peak["demand_mw"])]]  # a max is one stored value: exact
    answer = dom.by_id("answer").text  # type: ignore[union-attr]
    assert f"{pt(peak['demand_mw'])} MW" in answer
    meta = dom.by_id("meta").text  # type: ignore[union-attr]
    assert "Confiança:" in meta and "horário de Brasília" in meta
    queries = dom.by_id("d-queries")
    assert queries is not None and queries.tag == "details" and "open" not in queries.attrs
    dialects = [h.text for h in queries.find_all("h3")]
    assert dialects[0] == "InfluxQL — executada"
    assert {"Flux (InfluxDB 2)", "SQL (InfluxDB 3)", "Timestream SQL"} <= set(dialects)
    pres = [p.text for p in queries.find_all("pre")]
    assert any('FROM "consumption_data"' in p and "max(" in p for p in pres)
    sources = dom.by_id("d-sources")
    assert sources is not None and "consumption_data" in sources.text
    conf = dom.by_id("d-confidence")
    assert conf is not None and re.search(r"Por que esta confiança: \d+\s%", conf.text)


def test_ambiguous_candidates_re_ask(api: Server) -> None:
    dom = page(api, "Quanto gerou Angra na semana passada?")
    assert "refused" in dom.by_id("answer").attrs["class"]  # type: ignore[union-attr]
    group = dom.find("div", cls="candidates")
    assert group is not None and group.attrs["role"] == "group"
    buttons = group.find_all("button")
    assert [b.text for b in buttons] == ["Angra 1", "Angra 2"]
    again = buttons[1].attrs["data-q"]
    assert again == "Quanto gerou Angra 2 na semana passada?"
    assert dom.by_id("chart") is None and dom.by_id("data") is None
    dom = page(api, again)  # what the button asks
    assert dom.by_id("answer").text.startswith("A geração de Angra 2")  # type: ignore[union-attr]
    assert dom.by_id("data") is not None


def test_refusal_in_plain_words_without_chart_or_table(api: Server) -> None:
    dom = page(api, "Qual o preço da energia amanhã?")
    answer = dom.by_id("answer")
    assert answer is not None and answer.text.startswith("Não posso responder")
    assert "sem resposta" in dom.by_id("meta").text  # type: ignore[union-attr]
    for gone in ("chart", "data", "csv", "d-sources", "d-confidence"):
        assert dom.by_id(gone) is None, gone


def test_errors_are_said_in_plain_words(week_data: dict[str, Any]) -> None:
    s: Settings = week_data["settings"]
    with _serve(s.with_overrides(api_keys="k1")) as server:  # a key is required, none given
        dom = page(server, "carga no Sul ontem")
        err = dom.by_id("error")
        assert err is not None and err.attrs["role"] == "alert"
        assert "chave de API válida" in err.text and dom.by_id("answer") is None
        assert "(id " in err.text  # the request id the server logged, to report it
    dead = fast_settings(f"http://127.0.0.1:{free_port()}", s.state_dir / "dead",
                         api_auth="disabled")
    with _serve(dead) as server:  # InfluxDB down and no Parquet fallback: 503
        err = page(server, "carga no Sul ontem").by_id("error")
        assert err is not None and "fora do ar" in err.text


def test_phone_width_and_accessibility(api: Server) -> None:
    """A 375 px phone (DevTools device emulation): one column, nothing wider than the
    screen but the table (which scrolls in its own region), and the labels a screen
    reader needs."""
    with Browser() as b:
        b.send("Emulation.setDeviceMetricsOverride",
               {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True}, page=True)
        b.open(f"{api.url}/?q={urllib.parse.quote('Geração por fonte por dia na semana passada')}")
        b.wait_for("!!document.getElementById('chart')")
        assert b.js("innerWidth") == 375
        assert b.js("document.documentElement.scrollWidth") <= 375  # no sideways page scroll
        columns = b.js("getComputedStyle(document.getElementById('f')).gridTemplateColumns")
        assert len(columns.split()) == 1, columns  # question, key and button stacked
        assert b.js("document.getElementById('chart').getBoundingClientRect().right") <= 375
        dom = b.dom()
    svg = figure(dom).find("svg")
    assert svg is not None and int(svg.attrs["width"]) <= 375
    assert dom.find("meta", name="viewport") is not None
    for field_id in ("q", "key"):  # every input has a visible label
        assert dom.find("label", **{"for": field_id}) is not None, field_id
    assert dom.by_id("status").attrs["role"] == "status"  # type: ignore[union-attr]
    assert dom.by_id("status").attrs["aria-live"] == "polite"  # type: ignore[union-attr]
    assert dom.find("form").attrs["role"] == "search"  # type: ignore[union-attr]
    region = dom.find("div", cls="table-wrap")  # the wide table scrolls, by keyboard too
    assert region is not None and region.attrs["tabindex"] == "0"
    assert all(d.find("summary") is not None for d in dom.find_all("details"))

def test_clicking_a_candidate_shows_loading_then_asks_again(api: Server) -> None:
    """A real click (DevTools protocol): the loading state while the question is asked
    again, then the answer for the chosen plant, its question in the box and the link."""
    with Browser() as b:
        b.open(f"{api.url}/?q={urllib.parse.quote('Quanto gerou Angra na semana passada?')}")
        b.wait_for("document.querySelectorAll('.candidates button').length === 2")
        # click and read the page in the same turn of the event loop: the loading state
        status, disabled, busy = b.js("""(() => {
            document.querySelectorAll('.candidates button')[1].click();
            return [document.getElementById('status').textContent,
                    document.getElementById('ask').disabled,
                    document.getElementById('result').getAttribute('aria-busy')]; })()""")
        assert (status, disabled, busy) == ("Consultando os dados…", True, "true")
        b.wait_for("!!document.getElementById('data')")
        dom = b.dom()
        assert dom.by_id("answer").text.startswith("A geração de Angra 2")  # type: ignore[union-attr]
        assert b.js("document.getElementById('q').value") == "Quanto gerou Angra 2 na semana passada?"
        assert b.js("location.search") == "?q=" + urllib.parse.quote(
            "Quanto gerou Angra 2 na semana passada?")
        assert b.js("document.getElementById('ask').disabled") is False
        assert b.js("document.getElementById('status').textContent") == ""


def test_keyboard_only_asking(api: Server) -> None:
    """Type a question and press Enter in the box: the answer comes, focus moves to it."""
    with Browser(lang="en-US") as b:
        b.open(f"{api.url}/")
        b.wait_for("document.readyState === 'complete'")
        assert b.js("document.activeElement.id") == "q"  # the box has focus on load
        b.send("Input.insertText", {"text": "Which 5 plants generated the most last week?"},
               page=True)
        b.press("Enter", 13)
        b.wait_for("!!document.getElementById('chart')")
        assert b.js("document.activeElement.id") == "result"  # screen readers land on it
        assert b.js("document.documentElement.lang") == "en-US"
        labels = b.js("[...document.querySelectorAll('.bar-label')].map(t => t.textContent)")
        assert len(labels) == 5 and "Itaipu" in labels
