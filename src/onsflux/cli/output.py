"""How the CLI shows things: rich on a terminal, JSON with ``--json``, never secrets."""

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

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t


def fmt_int(n: int | float) -> str:
    return f"{int(n):,}"


@contextmanager
def ingest_progress(enabled: bool) -> Iterator[Any]:
    """A progress callback for the Ingestor: a bar over objects, a counter of rows.

    Disabled (a no-op) with ``--json`` or when stdout is not a terminal, so machine output
    stays clean.
    """
    if not enabled:
        yield lambda event, payload: None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}"),
        console=err_console,
        transient=False,
    )
    task: dict[str, TaskID] = {}

    def callback(event: str, payload: dict[str, Any]) -> None:
        if event == "plan":
            task["id"] = progress.add_task("ingest", total=payload["objects"], rows=0, current="")
        elif "id" not in task:
            return
        elif event == "object_start":
            name = str(payload["key"]).rsplit("/", 1)[-1]
            progress.update(task["id"], current=name)
        elif event == "rows":
            t = progress.tasks[0]
            progress.update(task["id"], rows=t.fields["rows"] + payload["n"])
        elif event == "object_done":
            progress.advance(task["id"])

    with progress:
        yield callback
