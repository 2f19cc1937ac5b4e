"""The end-to-end demo behind ``make demo``: local InfluxDB → sample files → ingest → answers.

Every number printed here is computed by InfluxQL on the server from the data just
ingested, so the demo doubles as a smoke test of the whole write path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console

from . import catalog, sample
from .answer.service import AnswerService
from .influx.client import InfluxClient
from .influx.local import LocalServer
from .ingest.pipeline import Ingestor, Summary
from .query.execute import Executor
from .quoting import quote_ident
from .settings import Settings
from .state.store import store_for

BRT = ZoneInfo(catalog.TIMEZONE)

QUESTIONS = (
    "Qual foi o pico de carga no Sudeste ontem?",
    "How much wind generation in the Northeast last week?",
    "Qual a participação de cada fonte na geração nos últimos 30 dias?",
    "Top 5 plants by generation last week",
    "What was the peak load of the whole system yesterday?",
    "Qual será o preço da energia amanhã?",
)


def _brt(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).astimezone(BRT).strftime("%Y-%m-%d %H:%M")


def answers(client: InfluxClient) -> list[tuple[str, str, list[list[Any]]]]:
    """A few questions analysts ask, answered with InfluxQL: (title, query, rows)."""
    out: list[tuple[str, str, list[list[Any]]]] = []
    load = quote_ident("consumption_data")

    # InfluxQL's offset moves day boundaries later: +3h puts them at 03:00 UTC, which is
    # 00:00 in Brasília (UTC-3 all year since 2019); -3h would cut days at 18:00 local
    q = (f"SELECT max(demand_mw) AS peak_mw FROM {load} WHERE time > now() - 7d "
         "GROUP BY time(1d, 3h), region fill(none)")
    rows = client.query_points(q, db="consumption_data")
    table: dict[str, dict[str, float]] = {}
    for r in rows:
        day = _brt(int(r["time"]))[:10]
        table.setdefault(day, {})[str(r["region"])] = float(r["peak_mw"])
    regions = ["southeast", "northeast", "south", "north"]
    out.append((
        "Daily peak load per region, last 7 days (MW, Brasília days)", q,
        [["day", *regions]] + [[day, *[f"{vals.get(reg, float('nan')):,.0f}" for reg in regions]]
                               for day, vals in sorted(table.items())],
    ))

    q = (f"SELECT max(total) AS peak_mw FROM (SELECT sum(demand_mw) AS total FROM {load} "
         "WHERE time > now() - 30d AND region != 'sin' GROUP BY time(1h))")
    rows = client.query_points(q, db="consumption_data")
    if rows:
        r = rows[0]
        out.append(("Peak SIN load (sum of the four subsystems), last 30 days", q,
                    [[f"{float(r['peak_mw']):,.0f} MW", "at", _brt(int(r["time"]))]]))

    gen = quote_ident("generation_data")
    q = (f"SELECT sum(power_mw) AS mwh FROM {gen} WHERE time > now() - 30d GROUP BY source")
    rows = client.query_points(q, db="generation_data")
    total = sum(float(r["mwh"]) for r in rows) or 1.0
    out.append((
        "Generation mix, last 30 days (energy = Σ hourly MWmed × 1 h)", q,
        [[str(r["source"]), f"{float(r['mwh']) / 1e3:,.0f} GWh", f"{100 * float(r['mwh']) / total:.1f} %"]
         for r in sorted(rows, key=lambda r: -float(r["mwh"]))],
    ))
    return out


def run(settings: Settings, out: Path, *, days: int = 30, console: Console | None = None) -> Summary:
    console = console or Console()
    console.rule("1. local InfluxDB", style="bold")
    handle = LocalServer(settings.state_dir).up()
    console.print(f"running at {handle.url} (pid {handle.pid}), data under {settings.state_dir}")

    console.rule(f"2. {days} days of ONS-shaped sample files", style="bold")
    data = sample.generate(days=days)
    paths = sample.write(data, out / "ons", "ons")
    for p in paths:
        console.print(f"  {p}  ({p.stat().st_size:,} bytes)")

    console.rule("3. ingest", style="bold")
    s = settings.with_overrides(influxdb_url=handle.url)
    store = store_for(s)
    with InfluxClient(s, url=handle.url) as client:
        summary = Ingestor(s, store, client).ingest([str(out / "ons")])
        for o in summary.objects:
            console.print(f"  {Path(o.key).name}: {o.status}, {o.rows:,} rows, {o.points:,} points,"
                          f" {o.rejected} rejected, verify {o.verified or o.error}")
        console.print(f"{summary.points:,} points in {summary.seconds:.2f} s "
                      f"({summary.points_per_s:,.0f} points/s)", style="bold")

        console.rule("4. answers (InfluxQL on the data just ingested)", style="bold")
        for title, query, rows in answers(client):
            console.print(title, style="bold", markup=False)
            console.print(f"  {query}", style="dim", markup=False)
            for r in rows:
                console.print("  " + "  ".join(str(v) for v in r))

        console.rule("5. questions in Portuguese and English (onsflux ask)", style="bold")
        service = AnswerService(Executor(s, client), store=store)
        for question in QUESTIONS:
            reply = service.ask(question)
            console.print(f"? {question}", style="bold", markup=False)
            console.print(f"  {reply['answer']}", markup=False, soft_wrap=True)
            used = reply["query_used"]["text"] if reply["query_used"] else "no query run"
            console.print(f"  [{reply['status']} · confidence {reply['confidence_score']}] {used}",
                          style="dim", markup=False, soft_wrap=True)
    store.close()

    console.rule("next", style="bold")
    console.print(
        "  .venv/bin/onsflux ask \"Qual foi a carga média do Nordeste em novembro?\"\n"
        "  .venv/bin/onsflux serve                       # HTTP API + web page on :8000\n"
        "  .venv/bin/onsflux query --template consumption_peak\n"
        "  .venv/bin/onsflux status                      # what was ingested\n"
        f"  .venv/bin/onsflux ingest {out}/ons             # again: unchanged files are skipped\n"
        f"  .venv/bin/onsflux sample --out {out}/wide --format wide && "
        f".venv/bin/onsflux ingest {out}/wide\n"
        "  .venv/bin/onsflux local status / local down   # the server keeps running until then\n"
        f"  influx -port {handle.port} -database consumption_data   # if the influx shell is installed"
    )
    return summary
