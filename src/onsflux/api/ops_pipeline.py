"""The pipeline-health section of the ``/ops`` page (registered with :mod:`.ops`).

Rendered on the server from :func:`onsflux.ops.health.pipeline_health` (every value
escaped): ingest objects by status and the most recent ones, rows rejected, the dead
letters waiting; each migration's partitions done out of total, points migrated, points/s
and ETA; the sync lag per table; the breaker state and the fallback answers; and charts
over time (points written and rows rejected per hour over 24 h, points migrated, fallback
answers while the API runs). Times in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..ops.health import History, pipeline_health
from ..settings import Settings
from .ops import OpsSection, esc, line_chart, register, table

#: samples of this process's metrics, taken each time the section is rendered
HISTORY = History()


def _utc(t: float | None) -> str:
    return "-" if not t else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.1f}"


def _dur(s: float | None) -> str:
    if s is None:
        return "unknown"
    if s < 60:
        return f"{s:.0f} s"
    return f"{s / 60:.0f} min" if s < 3600 else f"{s / 3600:.1f} h"


def section_html(data: dict[str, Any]) -> str:
    ing, mig, q = data["ingest"], data["migration"], data["queries"]
    statuses = ", ".join(f"{v} {k}" for k, v in sorted(ing["by_status"].items())) or "none"
    parts = [
        f'<p class="big" id="ph-ingest-summary">{esc(_num(ing["objects"]))} objects '
        f'({esc(statuses)}), {esc(_num(ing["points"]))} points, '
        f'{esc(_num(ing["rejected"]))} rows rejected, '
        f'<span id="ph-dead-count">{len(ing["dead_letters"])} dead letters waiting</span></p>',
        f'<p id="ph-queries">breaker <strong id="ph-breaker">{esc(q["breaker"])}</strong> · '
        f'fallback answers <strong id="ph-fallback">{esc(_num(q["fallback_answers"]))}</strong>'
        f' (from {esc(q["fallback"])})</p>',
        line_chart({"points written": [(b["t"], b["points"]) for b in ing["hourly"]]},
                   title="Points written per hour, last 24 h", y_title="points per hour"),
        line_chart({"rows rejected": [(b["t"], b["rejected"]) for b in ing["hourly"]]},
                   title="Rows rejected per hour, last 24 h", y_title="rows per hour"),
        "<h3>recent objects</h3>",
        table(["object", "status", "points", "rejected", "finished (UTC)"],
              [[o["key"], o["status"], _num(o["points"]), _num(o["rejected"]),
                _utc(o["finished_at"])] for o in ing["recent"]], cls="ph-recent"),
        "<h3>dead letters</h3>",
        table(["object", "kind", "reason", "attempts", "last failed (UTC)"],
              [[d["key"], d["kind"], d["reason"], d["attempts"], _utc(d["last_failed_at"])]
               for d in ing["dead_letters"]], cls="ph-dead")
        if ing["dead_letters"] else '<p class="ph-dead-none">none waiting</p>',
        "<h3>migration</h3>",
    ]
    if not mig.get("available", True):
        parts.append(f"<p>{esc(mig['why'])}</p>")
    elif not mig["migrations"]:
        parts.append('<p class="ph-migrations-none">no migration planned</p>')
    else:
        parts.append(table(
            ["migration", "partitions done", "failed", "points", "points/s", "ETA"],
            [[m["id"], f'{m["done"]} / {m["partitions"]}', m["failed"], _num(m["points"]),
              _num(m["points_per_s"]), "done" if m["eta_s"] == 0 else _dur(m["eta_s"])]
             for m in mig["migrations"]], cls="ph-migrations"))
        series = {m["id"]: [(c["t"], c["points"]) for c in m["cumulative"]]
                  for m in mig["migrations"] if m["cumulative"]}
        if series:
            parts.append(line_chart(series, title="Points migrated over time",
                                    y_title="points (cumulative)"))
        parts.append("<h3>sync lag</h3>")
        parts.append(table(["migration", "table", "watermark (UTC)", "lag"],
                           [[s["migration"], s["table"], _utc(s["watermark_ns"] / 1e9),
                             _dur(s["lag_s"])] for s in mig["sync"]], cls="ph-sync")
                     if mig["sync"] else '<p class="ph-sync-none">migrate sync has not run</p>')
    hist = data["history"]
    parts.append(line_chart(
        {"fallback answers": [(r["t"], r["onsflux_query_fallback_total"]) for r in hist]},
        title="Fallback answers (cumulative) while this API runs",
        y_title="answers"))
    return "".join(parts)


def render(settings: Settings) -> str:
    from ..state.store import store_for

    store = store_for(settings)
    try:
        return section_html(pipeline_health(settings, store, HISTORY))
    finally:
        store.close()


register(OpsSection("pipeline", "Pipeline health", render, order=10))
