"""The operations page, ``/ops``: sections any part of onsflux can add.

- ``GET /ops`` is a shell with no data (public, like ``/``): its script asks
  ``GET /ops/sections`` with the API key the main page keeps (``localStorage``), or one
  given in the URL fragment (``/ops#key=…``: a fragment never reaches a server or its logs).
- ``GET /ops/sections`` is behind the same API-key check as ``POST /query``: every
  registered section, rendered server-side to an HTML fragment (every value escaped).

A section is an :class:`OpsSection`: an id, a title, an order and a ``render(settings)``
that returns HTML. Add one with :func:`register` (the cutover's is below; pipeline health,
migration progress… go next to it) and it appears on the page; a section that fails
shows its error in its own box, never breaks the others.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpsSection:
    id: str
    title: str
    render: Callable[[Settings], str]
    order: int = 100


SECTIONS: dict[str, OpsSection] = {}


def register(section: OpsSection) -> OpsSection:
    """Add (or replace) a section of the page."""
    SECTIONS[section.id] = section
    return section


def render_sections(settings: Settings) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for sec in sorted(SECTIONS.values(), key=lambda s: (s.order, s.id)):
        try:
            body = sec.render(settings)
            ok = True
        except Exception as exc:  # noqa: BLE001 - one section failing never hides the rest
            log.warning("ops section %s failed: %s", sec.id, type(exc).__name__)
            body = f'<p class="error">this section could not be built ({esc(type(exc).__name__)})</p>'
            ok = False
        out.append({"id": sec.id, "title": sec.title, "ok": ok, "html": body})
    return out


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def table(columns: list[str], rows: list[list[Any]], *, cls: str = "") -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def line_chart(series: dict[str, list[tuple[float, float]]], *, title: str, y_title: str,
               width: int = 640, height: int = 240) -> str:
    """An SVG line chart: title, axis titles with units, times in UTC."""
    colors = {"blue": "#1f6fd1", "green": "#2a9d4b"}
    pts = [p for s in series.values() for p in s]
    if not pts:
        return (f'<figure class="chart"><figcaption>{esc(title)}</figcaption>'
                '<p class="empty">no comparisons yet</p></figure>')
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y1 = max(p[1] for p in pts) or 1.0
    left, right, top, bottom = 56, 16, 28, 44
    w, h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + (w * (t - x0) / (x1 - x0) if x1 > x0 else w / 2)

    def y(v: float) -> float:
        return top + h - h * v / y1

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" aria-label="{esc(title)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" class="title">{esc(title)}</text>',
             f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#888"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" stroke="#888"/>',
             f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="tick">{y1:.0f}</text>',
             f'<text x="{left - 6}" y="{top + h}" text-anchor="end" class="tick">0</text>',
             f'<text transform="translate(14 {top + h / 2}) rotate(-90)" text-anchor="middle" '
             f'class="axis">{esc(y_title)}</text>']
    for t in (x0, x1):
        label = datetime.fromtimestamp(t, UTC).strftime("%H:%M")
        parts.append(f'<text x="{x(t):.1f}" y="{top + h + 16}" text-anchor="middle" '
                     f'class="tick">{label}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{height - 6}" text-anchor="middle" class="axis">'
                 f'time (UTC, {datetime.fromtimestamp(x0, UTC):%Y-%m-%d})</text>')
    for i, (side, points) in enumerate(series.items()):
        if not points:
            continue
        d = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        color = colors.get(side, "#555")
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{d}" '
                     f'data-side="{esc(side)}"/>')
        parts.append(f'<text x="{left + w - 4}" y="{top + 14 + 14 * i}" text-anchor="end" '
                     f'fill="{color}" class="legend">{esc(side)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def page_html() -> str:
    """The shell: fetches the sections with the API key, shows each in its own box."""
    return _SHELL


_SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>onsflux operations</title>
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px;color:#222}
h1{font-size:1.4rem} section.ops{border:1px solid #ddd;border-radius:6px;padding:12px 16px;
margin:14px 0} section.ops h2{margin:0 0 8px;font-size:1.15rem}
table{border-collapse:collapse;margin:8px 0;font-size:.9rem} td,th{border:1px solid #ddd;
padding:3px 8px;text-align:left;vertical-align:top} .error{color:#b00020}
.fail{color:#b00020;font-weight:600} .pass{color:#2a7a3b;font-weight:600}
.phase{font-size:1.3rem;font-weight:700} .big{font-size:1.1rem}
svg .title{font-size:13px;font-weight:600} svg .axis{font-size:11px} svg .tick{font-size:10px}
svg .legend{font-size:11px;font-weight:600} pre{white-space:pre-wrap;font-size:.8rem}
#auth{display:none} #auth.show{display:block}
</style></head><body>
<h1>onsflux operations</h1>
<form id="auth"><label>API key <input name="key" type="password" autocomplete="off"></label>
<button>show</button> <span id="auth-msg"></span></form>
<div id="sections"><p id="loading">loading…</p></div>
<script>
(function () {
  var m = /(?:^|[#&])key=([^&]+)/.exec(location.hash);
  if (m) { localStorage.setItem('onsflux-key', decodeURIComponent(m[1]));
           history.replaceState(null, '', location.pathname); }
  var box = document.getElementById('sections'), auth = document.getElementById('auth');
  function load() {
    var key = localStorage.getItem('onsflux-key') || '', headers = {};
    if (key) headers['X-API-Key'] = key;
    fetch('/ops/sections', {headers: headers}).then(function (r) {
      return r.json().then(function (body) { return {status: r.status, body: body}; });
    }).then(function (res) {
      if (res.status === 401) {
        box.innerHTML = '';
        auth.className = 'show';
        document.getElementById('auth-msg').textContent = res.body.error.message;
        return;
      }
      auth.className = '';
      box.innerHTML = '';
      res.body.sections.forEach(function (s) {
        var el = document.createElement('section');
        el.className = 'ops'; el.id = 'ops-' + s.id; el.setAttribute('data-ok', s.ok);
        var h = document.createElement('h2'); h.textContent = s.title; el.appendChild(h);
        var div = document.createElement('div'); div.innerHTML = s.html; el.appendChild(div);
        box.appendChild(el);
      });
      document.body.setAttribute('data-loaded', 'yes');
    }).catch(function (e) { box.textContent = 'could not load: ' + e; });
  }
  auth.addEventListener('submit', function (ev) {
    ev.preventDefault(); localStorage.setItem('onsflux-key', auth.key.value); load();
  });
  load();
})();
</script></body></html>
"""


# ------------------------------------------------------------------ the cutover section

def cutover_section(settings: Settings) -> str:
    """Phase, consistency against its noise floor, latency per side over time, the gate,
    recent mismatches with their diffs, the latest transitions."""
    from ..cutover.control import FIGURES_WINDOW, Cutover
    from ..cutover.stats import latency_series

    ops = Cutover(settings)
    try:
        out = ops.status(mismatches=10)
        st = ops.store.get_state()
        series = latency_series(ops.store.comparisons(FIGURES_WINDOW,
                                                      since=st.session_started or None))
    finally:
        ops.close()
    s, fig, gate = out["state"], out["figures"], out["gate"]
    phase = s["phase"] + (f" {s['percent']:g}%" if s["phase"] == "canary" else "")

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.3%}"

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    parts = [
        f'<p><span class="phase" id="cutover-phase">{esc(phase)}</span> · blue = '
        f'{esc(s["blue"])}, green = {esc(s["green"])} · sample {esc(s["sample"])} · version '
        f'{esc(s["version"])}' + (f" · {esc(s['reason'])}" if s["reason"] else "") + "</p>",
        f'<p class="big" id="cutover-consistency">consistency {pct(fig["consistency"])} over '
        f'{fig["comparisons"]} comparisons · noise floor {pct(fig["noise_floor"])} over '
        f'{fig["control_runs"]} control runs · {fig["dropped"]} samples dropped</p>',
        table(["side", "runs", "p50 ms", "p95 ms", "p99 ms", "error rate"],
              [[side, fig[side]["runs"], ms(fig[side]["p50_ms"]), ms(fig[side]["p95_ms"]),
                ms(fig[side]["p99_ms"]), pct(fig[side]["error_rate"])]
               for side in ("blue", "green")], cls="latency"),
        line_chart(series, title="p95 latency per side, per minute",
                   y_title="p95 latency (ms)"),
        f'<h3 id="cutover-gate">gate: <span class="{"pass" if gate["ok"] else "fail"}">'
        f'{"open" if gate["ok"] else "closed"}</span></h3>',
        table(["condition", "ok", "why"],
              [[c["name"], "yes" if c["ok"] else "NO", c["message"]] for c in gate["checks"]],
              cls="gate"),
        "<h3>recent mismatches</h3>",
    ]
    if out["mismatches"]:
        rows = []
        for m in out["mismatches"]:
            for d in (m["diffs"] or [{}])[:3]:
                rows.append([datetime.fromtimestamp(m["at"], UTC).strftime("%H:%M:%S"),
                             m["outcome"], m["spec"].get("measurement", ""),
                             d.get("kind", ""), d.get("field", ""),
                             ",".join(f"{k}={v}" for k, v in sorted(d.get("tags", {}).items())),
                             d.get("time", ""), d.get("control", ""), d.get("candidate", ""),
                             m["detail"]])
        parts.append(table(["at (UTC)", "outcome", "measurement", "diff", "field", "tags",
                            "time", "blue", "green", "detail"], rows, cls="mismatches"))
    else:
        parts.append('<p class="mismatches-none">no mismatches recorded</p>')
    parts.append("<h3>transitions</h3>")
    parts.append(table(["at (UTC)", "who", "action", "from", "to", "forced", "why"],
                       [[datetime.fromtimestamp(a["at"], UTC).strftime("%Y-%m-%d %H:%M:%S"),
                         a["who"], a["action"], a["from_phase"], a["to_phase"],
                         "yes" if a["forced"] else "", a["reason"]]
                        for a in reversed(out["audit"][-10:])], cls="audit"))
    return "".join(parts)


register(OpsSection("cutover", "Cutover (blue-green)", cutover_section, order=30))
