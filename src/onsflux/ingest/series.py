"""Parallel series: the same quantity stored under two series keys (pure, no I/O).

A series' *identity* is the values of its measurement's ``identity_tags`` (catalog):
``consumption_data`` region+sector, ``generation_data`` region+source+plant,
``transmission_data`` line. Two series with the same identity and different tag sets
(``region=southeast,sector=total`` and ``region=southeast``; a plant with and without its
``plant_id``) hold the same quantity twice, and every sum over them doubles. The
ingest refuses an object that would create one (:class:`SeriesIndex`), unless told to.

Series keys come from ``SHOW SERIES`` (InfluxDB 1.x, and 2.x/3.x through InfluxQL) in
line-protocol form: ``measurement,tag=value,...`` with ``\\``-escaped commas, spaces and
equals signs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import polars as pl

from .. import catalog
from ..exceptions import ParallelSeries

Tags = frozenset[tuple[str, str]]

#: examples a refusal shows
EXAMPLES = 3


def _unescape(text: str) -> str:
    """Undo line-protocol backslash escapes (``\\,`` ``\\ `` ``\\=``)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _split_once(text: str, sep: str, limit: int = -1) -> list[str]:
    """Split on unescaped ``sep`` (escapes kept for later)."""
    parts: list[str] = []
    start = i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == sep and (limit < 0 or len(parts) < limit):
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def parse_series_key(key: str) -> tuple[str, dict[str, str]]:
    """``m,a=1,b=x\\ y`` → ``("m", {"a": "1", "b": "x y"})`` (line-protocol escapes undone)."""
    name, *pairs = _split_once(key, ",")
    tags: dict[str, str] = {}
    for pair in pairs:
        k, _, v = _kv(pair)
        tags[_unescape(k)] = _unescape(v)
    return _unescape(name), tags


def _kv(pair: str) -> tuple[str, str, str]:
    parts = _split_once(pair, "=", 1)
    return (parts[0], "=", parts[1]) if len(parts) == 2 else (parts[0], "", "")


def _show(tags: Tags) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(tags)) or "(no tags)"


class SeriesIndex:
    """The tag sets stored (and being written) per identity, for one measurement."""

    def __init__(self, measurement: str, stored: Iterable[Mapping[str, str]] = ()) -> None:
        self.spec = catalog.measurement(measurement)
        self.stored: dict[tuple[str | None, ...], set[Tags]] = {}
        for tags in stored:
            self._add(frozenset((k, v) for k, v in tags.items() if v))

    def _identity(self, tags: Tags) -> tuple[str | None, ...]:
        return catalog.series_identity(self.spec.name, dict(tags))

    def _add(self, tags: Tags) -> None:
        self.stored.setdefault(self._identity(tags), set()).add(tags)

    def check(self, frame: pl.DataFrame, tags: Sequence[str], source: str) -> None:
        """Raise :class:`ParallelSeries` if ``frame``'s series would sit beside a stored
        series of the same quantity under another key; else remember them as stored."""
        if not tags or frame.height == 0:
            return
        incoming: dict[tuple[str | None, ...], set[Tags]] = {}
        for row in frame.select(list(tags)).unique().iter_rows(named=True):
            t: Tags = frozenset((k, v) for k, v in row.items() if v is not None and v != "")
            incoming.setdefault(self._identity(t), set()).add(t)
        problems: list[str] = []
        for ident, sets in incoming.items():
            before = self.stored.get(ident, set())
            if len(before | sets) > 1 and sets - before:
                new = sorted(sets - before, key=_show)
                old = sorted(before, key=_show) or sorted(sets, key=_show)[:-1]
                problems.append(f"{_show(new[0])} beside {_show(old[0])}")
        if problems:
            shown = "; ".join(problems[:EXAMPLES])
            more = f" (and {len(problems) - EXAMPLES} more)" if len(problems) > EXAMPLES else ""
            raise ParallelSeries(
                f"would create parallel {self.spec.name} series for a quantity already "
                f"stored (same {', '.join(self.spec.identity_tags)}, other tags): {shown}{more}. "
                "Sums over both would double. Give the file the same tags as the stored "
                "series (the catalog's tags for the measurement: "
                f"{', '.join(self.spec.tags)}), or pass --allow-parallel-series if both "
                "series are wanted",
                path=source,
            )
        for sets in incoming.values():
            for t in sets:
                self._add(t)

    def check_stored(self, stored: Iterable[Mapping[str, str]], what: str) -> None:
        """Raise :class:`ParallelSeries` if ``stored`` already holds parallel series
        (for a query about to sum over them)."""
        by_identity: dict[tuple[str | None, ...], set[Tags]] = {}
        for tags in stored:
            t: Tags = frozenset((k, v) for k, v in tags.items() if v)
            by_identity.setdefault(self._identity(t), set()).add(t)
        twice = [sorted(sets, key=_show) for sets in by_identity.values() if len(sets) > 1]
        if twice:
            shown = "; ".join(f"{_show(a)} and {_show(b)}" for a, b, *_ in twice[:EXAMPLES])
            raise ParallelSeries(
                f"{len(twice)} quantit{'y is' if len(twice) == 1 else 'ies are'} stored twice "
                f"in {self.spec.name} under different tags ({shown}): a sum over them would "
                "count each value twice, so none is given. Delete one of each pair (the one "
                "ingested with --allow-parallel-series), or ask per series",
                path=what,
            )
