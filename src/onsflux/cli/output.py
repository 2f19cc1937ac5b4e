"""How the CLI shows things: rich on a terminal, JSON with ``--json``, never secrets.

Both consoles print text literally (``markup=False``): a path such as ``data[2024]/a.csv``
or a server message with brackets must come out as it is, so styles are given as
``style=`` or with ``styled`` (rich ``Text``), never as ``[red]`` markup in a string.
Everything printed as an error, a table cell or JSON passes through ``onsflux.redact``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from ..redact import redact, redact_data

console = Console(stderr=False, highlight=False, markup=False)
err_console = Console(stderr=True, highlight=False, markup=False)


def styled(*parts: str | tuple[str, str]) -> Text:
    """Literal, redacted text with styled pieces: ``styled(("error:", "red"), " ", msg)``."""
    return Text.assemble(*(redact(p) if isinstance(p, str) else (redact(p[0]), p[1])
                           for p in parts))


def print_error(message: object, label: str = "error:") -> None:
    """One error line on stderr: literal (brackets kept) and redacted."""
    err_console.print(styled((label, "red"), " ", redact(str(message))), soft_wrap=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(redact_data(data), indent=2, default=str, ensure_ascii=False)
                     + "\n")


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """A table whose title and cells are literal text (no markup) and redacted."""
    t = Table(title=Text(title), title_justify="left")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*(Text("" if v is None else redact(str(v))) for v in r))
    return t


def fmt_int(n: int | float) -> str:
    return f"{int(n):,}"


@contextmanager
def unit_progress(
    enabled: bool, label: str, *, total: str, done: str, count: tuple[str, str], unit: str,
    start: str | None = None,
) -> Iterator[Any]:
    """A progress callback ``(event, payload)`` for a job over units of work (objects,
    partitions): a bar over the units and a running count of ``unit``.

    ``plan`` events carry ``payload[total]`` units; each ``done`` event advances the bar;
    ``count = (event, key)`` adds ``payload[key]`` to the count; a ``start`` event names
    the unit in progress (``payload["key"]``). A no-op with ``--json`` or when stderr is
    not a terminal, so machine output stays clean.
    """
    if not (enabled and sys.stderr.isatty()):
        yield lambda event, payload: None
        return
    progress = Progress(
        TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
        TextColumn(f"{{task.fields[n]:,}} {unit}", markup=False), TimeElapsedColumn(),
        TextColumn("{task.fields[current]}", markup=False), console=err_console, transient=False,
    )
    task: dict[str, TaskID] = {}

    def callback(event: str, payload: dict[str, Any]) -> None:
        if event == "plan":
            task["id"] = progress.add_task(label, total=payload[total], n=0, current="")
            return
        if "id" not in task:
            return
        if event == start:
            progress.update(task["id"], current=str(payload["key"]).rsplit("/", 1)[-1])
        if event == count[0]:
            n = progress.tasks[0].fields["n"] + payload[count[1]]
            progress.update(task["id"], n=n)
        if event == done:
            progress.advance(task["id"])

    with progress:
        yield callback


_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """``▁▃▇█▅`` for a series: the shape of a trend at a glance in a terminal."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(_BLOCKS[min(7, int((v - lo) / span * 7.999))] for v in values)


def bar_lines(items: list[tuple[str, float]], width: int = 40) -> list[str]:
    """Horizontal bars for a comparison or ranking (largest value = ``width`` cells)."""
    if not items:
        return []
    top = max(abs(v) for _, v in items) or 1.0
    pad = max(len(label) for label, _ in items)
    return [f"{label.ljust(pad)} {'█' * max(1, round(abs(v) / top * width))}" for label, v in items]


def chart_for(series: list[dict[str, Any]]) -> list[str]:
    """A terminal chart for ``time_series_data``: sparklines for trends, bars for groups."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for point in series:
        if point.get("value") is None:
            continue
        label = "/".join(str(v) for v in point.get("tags", {}).values()) or str(point["field"])
        groups.setdefault(label, []).append(point)
    if not groups:
        return []
    if all(len(points) == 1 for points in groups.values()):
        if len(groups) < 2:
            return []
        items = sorted(((k, float(v[0]["value"])) for k, v in groups.items()),
                       key=lambda kv: -kv[1])
        return bar_lines(items)
    pad = max(len(k) for k in groups)
    out = []
    for label, points in groups.items():
        values = [float(p["value"]) for p in sorted(points, key=lambda p: p["timestamp"])]
        out.append(f"{label.ljust(pad)} {sparkline(values)}  "
                   f"{points[0]['timestamp'][:16]} → {points[-1]['timestamp'][:16]}")
    return out
