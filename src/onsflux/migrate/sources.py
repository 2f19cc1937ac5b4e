"""Where a migration reads from: UNLOAD exports or the Timestream Query API, one interface.

``open_source(url, …)``:

- ``timestream://DATABASE[/TABLE]`` → :class:`TimestreamSource` (``timestream-query``);
- a folder, ``file://`` or ``s3://bucket/prefix`` → :class:`UnloadSource`.

Both answer the same three questions:

- ``explore(table)`` → :class:`TableStats`: rows, first/last time, an hourly histogram
  (to size the partitions), files per hour (UNLOAD), the series count (cardinality);
- ``chunks(table, start_ns, stop_ns, files)`` → typed frames of the rows in the window
  (Timestream column names, ``time`` Int64 ns, ``_row`` for rejects) with their label;
- ``tables()`` → the tables this source holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .. import catalog
from ..exceptions import ConfigError, SourceError
from ..frames import ROW
from ..settings import Settings
from ..sources import objects
from ..sources.timestream import TimestreamQuery, quote_ts_ident, ts_literal
from ..sources.unload import DEFAULT_CSV, CsvOptions, UnloadExport, discover, iter_file, read_file
from .dedupe import EXAMPLES, Duplicates, collapse, key_hashes
from .mapping import (
    TS_TO_FIELD,
    Mapping,
    TableMapping,
    classify,
    dimensions,
    is_single_measure,
    map_frame,
)

HOUR_NS = 3_600_000_000_000


@dataclass
class TableStats:
    table: str
    rows: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    hours: dict[int, int] = field(default_factory=dict)  # hour start ns -> rows
    hour_files: dict[int, set[str]] = field(default_factory=dict)
    series: int = 0
    points: int = 0
    rejected: int = 0
    null_measures: int = 0
    manifest_rows: int | None = None
    warnings: list[str] = field(default_factory=list)
    #: what the measurement will hold: tags in first-seen order, field → type
    tags: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    #: tag → source column, for the tags a VARCHAR column became by default (not named
    #: in the mapping, not a tag of the catalog): maybe a measure
    guessed_tags: dict[str, str] = field(default_factory=dict)
    #: tag → series count without that tag (how much it multiplies the series)
    series_without: dict[str, int] = field(default_factory=dict)
    duplicates: Duplicates = field(default_factory=Duplicates)
    #: catalog tag → values the catalog does not know (kept as they are; up to 100)
    unresolved: dict[str, set[str]] = field(default_factory=dict)

    def add_mapped(self, tm: TableMapping, types: dict[str, str], tags: list[str],
                   fields: dict[str, Any], time_column: str) -> None:
        self.tags += [t for t in tags if t not in self.tags]
        self.fields.update({f: str(v) for f, v in fields.items()})
        spec = catalog.MEASUREMENTS.get(tm.measurement)
        known = set(spec.tags) if spec else set()
        for col in dimensions(tm, types, time_column):
            tag = tm.tags.get(col, col)
            if col in tm.dimension_fields or tag not in tags:
                continue
            if col not in tm.tags and tag not in known and not is_single_measure(list(types)):
                self.guessed_tags[tag] = col

    def add_times(self, times: pl.Series, label: str | None = None) -> None:
        if times.len() == 0:
            return
        lo, hi = int(times.min()), int(times.max())  # type: ignore[arg-type]
        self.first_ns = lo if self.first_ns is None else min(self.first_ns, lo)
        self.last_ns = hi if self.last_ns is None else max(self.last_ns, hi)
        hist = (times // HOUR_NS * HOUR_NS).value_counts()
        for h, n in hist.iter_rows():
            self.hours[int(h)] = self.hours.get(int(h), 0) + int(n)
            if label is not None:
                self.hour_files.setdefault(int(h), set()).add(label)
        self.rows += times.len()


@dataclass
class Chunk:
    frame: pl.DataFrame
    types: dict[str, str]
    label: str


def source_id(url: str) -> str:
    """The normalized form of a source: what identifies a migration in the state store."""
    url = url.strip()
    if url.startswith(("timestream://", "s3://")):
        return url.rstrip("/")
    return str(objects.local_path(url).resolve())


class UnloadSource:
    kind = "unload"

    def __init__(self, url: str, settings: Settings, mapping: Mapping, table: str | None = None,
                 csv: CsvOptions = DEFAULT_CSV, *, no_manifest: bool = False) -> None:
        self.url = source_id(url)
        self.settings = settings
        self.mapping = mapping
        self.csv = csv
        self.exports: list[UnloadExport] = discover(self.url, settings, list(mapping.tables),
                                                    table, no_manifest=no_manifest)
        self._by_file = {f.url: (e, f) for e in self.exports for f in e.files}
        #: export order (see :func:`~onsflux.sources.unload.discover`): the order in which
        #: ``run`` reads a partition's files, so the last duplicate in it wins
        self._rank = {u: i for i, u in enumerate(self._by_file)}

    @property
    def warnings(self) -> list[str]:
        """What every stage should tell the user about the export (no manifest, files
        not in the manifest)."""
        return [w for e in self.exports for w in e.warnings]

    def file_rank(self, url: str) -> int:
        return self._rank.get(url, len(self._rank))

    def tables(self) -> list[str]:
        return sorted({e.table for e in self.exports})

    def explore(self, table: str) -> TableStats:
        """Read every file of ``table`` once: rows per hour, per-file row counts checked
        against the manifest, points/rejects/series as the mapping would produce, the
        tags and fields it writes, and duplicates (rows on one point, see
        :mod:`.dedupe`): within a file exactly with examples; across files by point key
        (the files holding the first ones read again for examples)."""
        stats = TableStats(table)
        tm = self.mapping.table(table)
        tcol = self.mapping.time_column
        series: set[tuple[Any, ...]] | None = set()
        manifest_rows = 0
        keys: list[tuple[str, pl.Series]] = []
        for export in (e for e in self.exports if e.table == table):
            if export.total_rows is not None:
                manifest_rows += export.total_rows
            for f in export.files:
                frame = read_file(export, f, self.settings, csv=self.csv, time_col=tcol)
                if f.rows is not None and frame.height != int(f.rows):
                    raise SourceError(f"file has {frame.height} rows, the manifest says {f.rows}",
                                      path=f.url)
                stats.add_times(frame.get_column(tcol), f.url)
                mapped = map_frame(tm, frame, export.types, source=f.url, time_column=tcol)
                stats.rejected += mapped.rejects.height
                stats.null_measures += mapped.null_measures
                stats.add_mapped(tm, export.types, mapped.tags, mapped.fields, tcol)
                for tag, values in mapped.unresolved.items():
                    kept = stats.unresolved.setdefault(tag, set())
                    kept.update(values[: max(0, 100 - len(kept))])
                merged, found = collapse(mapped.frame, mapped.tags, list(mapped.fields), f.url)
                stats.points += merged.height
                stats.duplicates.merge(found)
                if merged.height:
                    keys.append((f.url, key_hashes(merged, mapped.tags)))
                if series is not None and mapped.tags:
                    series.update(merged.select(sorted(mapped.tags)).unique().iter_rows())
                    if len(series) > 10 * self.mapping.cardinality_warning:
                        series = None  # far above the threshold: stop counting exactly
        self._across_files(stats, tm, keys)
        stats.series = len(series) if series is not None else 10 * self.mapping.cardinality_warning
        if series is not None and stats.guessed_tags:
            order = sorted(stats.tags)
            for tag in stats.guessed_tags:
                if tag in order:
                    i = order.index(tag)
                    stats.series_without[tag] = len({t[:i] + t[i + 1:] for t in series})
        stats.manifest_rows = manifest_rows if any(
            e.total_rows is not None for e in self.exports if e.table == table) else None
        return stats

    def _across_files(self, stats: TableStats, tm: TableMapping,
                      keys: list[tuple[str, pl.Series]]) -> None:
        """Points found in more than one file: counted, their superseded values and
        examples from the files that hold them, read again (only those rows kept)."""
        if len(keys) < 2:
            return
        every = pl.concat([h for _, h in keys])
        again = every.len() - every.n_unique()
        if not again:
            return
        stats.points -= again
        stats.duplicates.rows += again
        first = every.filter(every.is_duplicated()).unique(maintain_order=True)
        files = [u for u, h in keys if h.is_in(first.implode()).any()]
        frames, labels, tags, fields = [], [], [], []
        for i, url in enumerate(files):
            export, f = self._by_file[url]
            frame = read_file(export, f, self.settings, csv=self.csv,
                              time_col=self.mapping.time_column)
            mapped = map_frame(tm, frame, export.types, source=url,
                               time_column=self.mapping.time_column)
            merged, _ = collapse(mapped.frame, mapped.tags, list(mapped.fields), url)
            keep = key_hashes(merged, mapped.tags).is_in(first.implode())
            frames.append(merged.filter(keep).with_columns(pl.lit(i, pl.UInt32).alias("_c")))
            labels.append(url)
            tags += [t for t in mapped.tags if t not in tags]
            fields += [x for x in mapped.fields if x not in fields]
        _, shown = collapse(pl.concat(frames, how="diagonal_relaxed"), tags, fields, "",
                            chunk_col="_c", labels=labels)
        stats.duplicates.superseded += shown.superseded
        stats.duplicates.examples = (shown.examples + stats.duplicates.examples)[:EXAMPLES]

    def chunks(self, table: str, start_ns: int, stop_ns: int, files: list[str]
               ) -> Iterator[Chunk]:
        for url in files:
            if url not in self._by_file:
                raise SourceError("planned file no longer in the export (re-plan?)", path=url)
            export, f = self._by_file[url]
            for frame in iter_file(export, f, self.settings, csv=self.csv,
                                   window=(start_ns, stop_ns),
                                   time_col=self.mapping.time_column,
                                   max_rows=self.settings.chunk_rows):
                yield Chunk(frame, export.types, url)

    def signature(self, files: list[str]) -> list[tuple[str, int | None]]:
        """(url, size) of ``files`` as the export lists them now (size None: gone)."""
        return [(u, self._by_file[u][1].size if u in self._by_file else None) for u in files]


class TimestreamSource:
    kind = "timestream"

    def __init__(self, url: str, settings: Settings, mapping: Mapping,
                 client: Any | None = None, table: str | None = None) -> None:
        self.url = source_id(url)
        rest = self.url[len("timestream://"):]
        parts = [p for p in rest.split("/") if p]
        if not parts:
            raise ConfigError("timestream:// needs a database: timestream://DATABASE[/TABLE]")
        self.database = parts[0]
        self.table = parts[1] if len(parts) > 1 else table
        self.settings = settings
        self.mapping = mapping
        self.query = TimestreamQuery(settings, client)
        self._types: dict[str, dict[str, str]] = {}
        self.warnings: list[str] = []

    def file_rank(self, url: str) -> int:
        return 0

    def tables(self) -> list[str]:
        if self.table:
            return [self.table]
        found = self.query.query(f"SHOW TABLES FROM {quote_ts_ident(self.database)}").frame
        names = found.get_column(found.columns[0]).to_list() if found.height else []
        return [n for n in names if n in self.mapping.tables]

    def fq(self, table: str) -> str:
        return f"{quote_ts_ident(self.database)}.{quote_ts_ident(table)}"

    def types(self, table: str) -> dict[str, str]:
        """Column types of ``table`` (from the ColumnInfo of a ``LIMIT 1`` query)."""
        if table not in self._types:
            self._types[table] = self.query.query(f"SELECT * FROM {self.fq(table)} LIMIT 1").types
        return self._types[table]

    def dimensions(self, table: str) -> list[str]:
        return dimensions(self.mapping.table(table), self.types(table),
                          self.mapping.time_column)

    def explore(self, table: str) -> TableStats:
        stats = TableStats(table)
        t = quote_ts_ident(self.mapping.time_column)
        hist = self.query.query(
            f"SELECT bin({t}, 1h) AS hour, count(*) AS n FROM {self.fq(table)} "
            f"GROUP BY bin({t}, 1h) ORDER BY hour").frame
        for h, n in hist.iter_rows():
            stats.hours[int(h)] = int(n)
        if stats.hours:
            stats.rows = sum(stats.hours.values())
            stats.first_ns = min(stats.hours)
            stats.last_ns = max(stats.hours) + HOUR_NS - 1
        types = self.types(table)
        tm = self.mapping.table(table)
        if not is_single_measure(list(types)):  # multi-measure: the columns say it all
            dims, measures = classify(tm, types, self.mapping.time_column)
            stats.add_mapped(
                tm, types, [tm.tags.get(d, d) for d in dims if d not in tm.dimension_fields],
                {tm.fields.get(m, m): TS_TO_FIELD.get(types[m], "string") for m in measures},
                self.mapping.time_column)
        dims = self.dimensions(table)
        if dims:
            cols = ", ".join(quote_ts_ident(d) for d in dims)
            card = self.query.query(
                f"SELECT count(*) AS n FROM (SELECT DISTINCT {cols} FROM {self.fq(table)})").frame
            stats.series = int(card.item()) if card.height else 0
        stats.points = stats.rows
        return stats

    def window_sql(self, table: str, start_ns: int, stop_ns: int) -> str:
        t = quote_ts_ident(self.mapping.time_column)
        return (f"SELECT * FROM {self.fq(table)} WHERE {t} >= {ts_literal(start_ns)} "
                f"AND {t} < {ts_literal(stop_ns)}")

    def chunks(self, table: str, start_ns: int, stop_ns: int, files: list[str]
               ) -> Iterator[Chunk]:
        result = self.query.query(self.window_sql(table, start_ns, stop_ns))
        frame = result.frame.with_columns(
            pl.int_range(1, result.frame.height + 1, dtype=pl.UInt64).alias(ROW))
        label = f"timestream://{self.database}/{table}?from={start_ns}&to={stop_ns}"
        yield Chunk(frame, result.types, label)


Source = UnloadSource | TimestreamSource


def open_source(url: str, settings: Settings, mapping: Mapping, *, table: str | None = None,
                client: Any | None = None, csv: CsvOptions = DEFAULT_CSV,
                no_manifest: bool = False) -> Source:
    if url.startswith("timestream://"):
        return TimestreamSource(url, settings, mapping, client=client, table=table)
    return UnloadSource(url, settings, mapping, table=table, csv=csv, no_manifest=no_manifest)


