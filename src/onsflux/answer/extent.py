"""Companion queries of an answer: samples per window, and where the data starts and ends.

Kept apart from the composer (pure) because they run queries. ``counts_for`` lets the
composer tell partial buckets (the data starts or ends inside them) from whole ones;
``no_data_reason`` turns an empty result for a named period into "no data in that period
(data starts on …)" instead of a bare "no data".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from ..exceptions import OnsfluxError
from ..query import QuerySpec
from ..query.result import QueryResult, Row
from .intents import SUBSYSTEMS
from .parse import RETENTION_DAYS
from .timeexpr import LOCAL

__all__ = ["counts_for", "data_extent", "no_data_reason"]


class Runner(Protocol):
    """What runs a spec: the executor, or the cutover router in front of it."""

    def run(self, spec: QuerySpec, *, window_note: bool = True) -> QueryResult: ...


def counts_for(executor: Runner, spec: QuerySpec) -> list[Row] | None:
    """Samples per window and series for a windowed ``spec`` (None when it cannot be run)."""
    if not spec.every:
        return None
    try:
        counted = spec.replace(aggregate="count", top=None, bottom=None, fill="none",
                               order="asc")
        return executor.run(counted, window_note=False).rows
    except OnsfluxError:
        return None


def data_extent(executor: Runner, spec: QuerySpec, now: datetime) -> tuple[int, int] | None:
    """First and last sample time (ns) of ``spec``'s field and filters within retention."""
    kept_from = now - timedelta(days=RETENTION_DAYS)
    out: list[int] = []
    for agg in ("first", "last"):
        try:
            probe = spec.replace(start=kept_from.isoformat(), stop=now.isoformat(), every=None,
                                 aggregate=agg, group_by=[], top=None, bottom=None, limit=1,
                                 order="asc", fill="none")
            rows = executor.run(probe, window_note=False).rows
        except OnsfluxError:
            return None
        times = [r.time_ns for r in rows if r.value is not None]
        if not times:
            return None
        out.append(min(times) if agg == "first" else max(times))
    return out[0], out[1]


def _day(ns: int, lang: str) -> str:
    t = datetime.fromtimestamp(ns / 1e9, LOCAL)
    return f"{t:%d/%m/%Y}" if lang == "pt" else f"{t:%Y-%m-%d}"


def no_data_reason(executor: Runner, spec: QuerySpec, now: datetime, lang: str) -> str | None:
    """Why a period has no rows: it lies before the first sample or after the last one."""
    extent = data_extent(executor, spec, now)
    if extent is None and spec.measurement == "consumption_data" and spec.where.get(
            "region") == ("sin",):  # ONS files hold the four subsystems, not a SIN series
        try:
            extent = data_extent(executor, spec.replace(
                where={**spec.where, "region": list(SUBSYSTEMS)}), now)
        except OnsfluxError:
            extent = None
    if extent is None:
        return ("Não há nenhum dado dessa medida com esses filtros." if lang == "pt"
                else "There is no data at all for that measure with those filters.")
    first, last = extent
    if spec.stop_ns <= first:
        return (f"Não há dados nesse período: os dados começam em {_day(first, lang)}."
                if lang == "pt" else
                f"There is no data in that period: the data starts on {_day(first, lang)}.")
    if spec.start_ns > last:
        return (f"Não há dados nesse período: os dados terminam em {_day(last, lang)}."
                if lang == "pt" else
                f"There is no data in that period: the data ends on {_day(last, lang)}.")
    return (f"Há dados de {_day(first, lang)} a {_day(last, lang)}, mas nenhum nesse período."
            if lang == "pt" else
            f"There is data from {_day(first, lang)} to {_day(last, lang)}, but none in that "
            f"period.")



