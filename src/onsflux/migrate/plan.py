"""Explore a source and cut it into partitions: (table, time window) units of work.

The window size comes from the data: the largest step of :data:`WINDOW_STEPS` whose
busiest window holds at most ``target_rows`` rows (hourly histogram from the source), so
a year of sparse data is a handful of partitions and a dense hour is one. Windows are
aligned on multiples of their size since the epoch (UTC) and only windows that hold
rows become partitions. Partition ids read ``TABLE/2024-01-01T00:00:00Z/1d``.

A :class:`Migration` binds settings, a source, a mapping and the state store; ``plan()``
explores (nothing written), ``save(plan)`` records the partitions (known ones keep their
status, so re-planning is safe), and the other stages take the same object.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from ..frames import rfc3339
from ..settings import Settings
from ..sources.unload import DEFAULT_CSV, CsvOptions
from .mapping import Mapping, default_mapping, mapping_from_dict
from .sources import HOUR_NS, Source, TableStats, open_source, source_id
from .state import MigrationRecord, MigrationStore, Partition

DAY_NS = 24 * HOUR_NS
WINDOW_STEPS: tuple[tuple[int, str], ...] = (
    (HOUR_NS, "1h"), (6 * HOUR_NS, "6h"), (DAY_NS, "1d"), (7 * DAY_NS, "7d"),
    (30 * DAY_NS, "30d"), (90 * DAY_NS, "90d"), (365 * DAY_NS, "365d"),
)


def load_mapping(path: str | Path | None) -> Mapping:
    """The mapping in ``path`` (``.toml`` or ``.json``), or the defaults when None."""
    if path is None:
        return default_mapping()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"mapping file {p}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"mapping file {p}: {exc}") from exc
    return mapping_from_dict(doc)


def window_label(ns: int) -> str:
    for size, label in WINDOW_STEPS:
        if size == ns:
            return label
    return f"{ns // HOUR_NS}h" if ns % HOUR_NS == 0 else f"{ns}ns"


def parse_window(text: str) -> int:
    for size, label in WINDOW_STEPS:
        if label == text:
            return size
    units = {"h": HOUR_NS, "d": DAY_NS}
    if text[:-1].isdigit() and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    raise ConfigError(f"window {text!r}: use a number of hours or days, e.g. 6h, 1d, 30d")


def bucket_rows(hours: dict[int, int], window_ns: int) -> dict[int, int]:
    """Rows per window start (aligned on multiples of ``window_ns``)."""
    out: dict[int, int] = {}
    for h, n in hours.items():
        start = h // window_ns * window_ns
        out[start] = out.get(start, 0) + n
    return out


def choose_window(hours: dict[int, int], target_rows: int) -> int:
    """The largest step whose busiest window has at most ``target_rows`` rows (≥ 1h)."""
    for size, _ in reversed(WINDOW_STEPS):
        counts = bucket_rows(hours, size)
        if not counts or max(counts.values()) <= target_rows:
            return size
    return HOUR_NS


def iso(ns: int) -> str:
    return rfc3339(ns, seconds=True)


def partition_id(table: str, start_ns: int, window_ns: int) -> str:
    return f"{table}/{iso(start_ns)}/{window_label(window_ns)}"


@dataclass
class TablePlan:
    table: str
    bucket: str
    measurement: str
    stats: TableStats
    partitions: int

    def as_dict(self) -> dict[str, Any]:
        s = self.stats
        return {"table": self.table, "bucket": self.bucket, "measurement": self.measurement,
                "rows": s.rows, "points": s.points, "rejected": s.rejected,
                "null_measures": s.null_measures, "manifest_rows": s.manifest_rows,
                "first": iso(s.first_ns) if s.first_ns is not None else None,
                "last": iso(s.last_ns) if s.last_ns is not None else None,
                "series": s.series, "partitions": self.partitions, "warnings": s.warnings,
                "tags": s.tags, "fields": s.fields, "duplicates": s.duplicates.as_dict()}


@dataclass
class Plan:
    migration: str
    source: str
    window_ns: int
    tables: list[TablePlan]
    partitions: list[Partition]
    warnings: list[str] = field(default_factory=list)
    explore_seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.stats.rows for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {
            "migration": self.migration, "source": self.source,
            "window": window_label(self.window_ns), "rows": self.rows,
            "partitions": len(self.partitions), "tables": [t.as_dict() for t in self.tables],
            "warnings": self.warnings, "explore_seconds": round(self.explore_seconds, 3),
            "partition_list": [{"id": p.id, "table": p.table_name, "bucket": p.bucket,
                                "measurement": p.measurement, "start": iso(p.start_ns),
                                "stop": iso(p.stop_ns), "rows": p.est_rows,
                                "files": len(p.files)} for p in self.partitions],
        }


def csv_options_dict(csv: CsvOptions) -> dict[str, str]:
    return {"field_delimiter": csv.delimiter, "escaped_by": csv.escape,
            "include_header": csv.header}


def csv_options_from(doc: dict[str, Any] | None) -> CsvOptions:
    doc = doc or {}
    return CsvOptions(delimiter=doc.get("field_delimiter", DEFAULT_CSV.delimiter),
                      escape=doc.get("escaped_by", DEFAULT_CSV.escape),
                      header=doc.get("include_header", DEFAULT_CSV.header))


def _mapping_warnings(measurement: str, table: str, s: TableStats, before: int | None
                      ) -> list[str]:
    """What the mapping may silently turn into something else: a VARCHAR column that
    became a tag by default (a measure?), the series estimate jumping, duplicates."""
    out = []
    for tag, col in s.guessed_tags.items():
        text = (f"{measurement}: VARCHAR column {col!r} becomes tag {tag!r} (not a tag of the "
                f"catalog, not named in the mapping): if it is a measure, map it as a field "
                f"with [tables.{table}] fields = {{ {col} = \"{col}\" }}")
        without = s.series_without.get(tag)
        if without and s.series >= 2 * without:
            text += (f"; as a tag it multiplies the series from {without:,} to "
                     f"{s.series:,}")
        out.append(text)
    for tag, values in sorted(s.unresolved.items()):
        shown = ", ".join(repr(v) for v in sorted(values)[:3])
        out.append(f"{measurement}: {len(values):,}{'+' if len(values) >= 100 else ''} {tag} "
                   f"values the catalog does not know are kept as they are ({shown}"
                   f"{' …' if len(values) > 3 else ''}): the ingest would write another value "
                   f"for a known name; fix them, or set canonical_tags = false to keep every "
                   "value verbatim")
    if before and s.series >= 2 * before and s.series - before >= 100:
        out.append(f"{measurement}: about {s.series:,} series, {s.series / before:.0f}× the "
                   f"{before:,} of the previous plan: did a measure become a tag?")
    d = s.duplicates
    if d.rows:
        ex = d.examples[0] if d.examples else None
        out.append(
            f"{table}: {d.rows:,} rows land on a point (series and time) another row also "
            f"has ({d.superseded:,} field values superseded): one point is written, the last "
            "row in export order wins each field"
            + (f"; e.g. {ex['series']} at {ex['time']}: rows {', '.join(ex['rows'])}"
               if ex else ""))
    return out


class Migration:
    """Settings + source + mapping + state: what every migrate stage works on.

    How to read the source — the CSV options of the UNLOAD (``csv``) and whether an
    export without a manifest is accepted (``no_manifest``) — is recorded with the plan;
    later stages use the recorded choice unless given one.
    """

    def __init__(self, settings: Settings, source: str, mapping: str | Mapping | None = None,
                 *, table: str | None = None, boto_client: Any | None = None,
                 csv: CsvOptions | None = None, no_manifest: bool | None = None,
                 store: MigrationStore | None = None) -> None:
        self.settings = settings
        self.id = source_id(source)
        self.store = store or MigrationStore(settings.state_path)
        self.table = table
        self.boto_client = boto_client
        rec = self.store.migration(self.id)
        recorded = (rec.plan.get("source_options") or {}) if rec else {}
        self.csv = csv if csv is not None else csv_options_from(recorded.get("csv"))
        self.no_manifest = no_manifest if no_manifest is not None else \
            bool(recorded.get("no_manifest", False))
        if isinstance(mapping, Mapping):
            self.mapping = mapping
        elif mapping is not None:
            self.mapping = load_mapping(mapping)
        else:  # the mapping recorded with the plan, else the defaults
            self.mapping = (mapping_from_dict(json.loads(rec.mapping)) if rec
                            else default_mapping())
        self._source: Source | None = None

    @property
    def source_options(self) -> dict[str, Any]:
        return {"csv": csv_options_dict(self.csv), "no_manifest": self.no_manifest}

    @property
    def source(self) -> Source:
        if self._source is None:
            self._source = open_source(self.id, self.settings, self.mapping, table=self.table,
                                       client=self.boto_client, csv=self.csv,
                                       no_manifest=self.no_manifest)
        return self._source

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Migration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def partitions(self, ids: list[str] | None = None,
                   status: tuple[str, ...] | None = None) -> list[Partition]:
        found = self.store.partitions(self.id, ids, status)
        if ids:
            unknown = set(ids) - {p.id for p in found}
            if unknown:
                raise ConfigError(f"unknown partitions: {', '.join(sorted(unknown))} "
                                  "(see `onsflux migrate plan`)")
        return found

    # ------------------------------------------------------------------ plan

    def plan(self, *, target_rows: int = 1_000_000, window: str | None = None) -> Plan:
        """Explore the source and cut it into partitions; nothing is recorded yet."""
        started = time.perf_counter()
        src = self.source
        tables = src.tables()
        if not tables:
            raise ConfigError(f"{self.id}: no table of the mapping found "
                              f"({', '.join(self.mapping.tables)})")
        stats = {t: src.explore(t) for t in tables}
        hours: dict[int, int] = {}
        for s in stats.values():  # one window size for the whole migration
            for h, n in s.hours.items():
                hours[h] = max(hours.get(h, 0), n)
        window_ns = parse_window(window) if window else choose_window(hours, target_rows)
        partitions: list[Partition] = []
        table_plans: list[TablePlan] = []
        warnings: list[str] = list(src.warnings)
        rec = self.store.migration(self.id)
        previous = {str(x.get("table")): int(x.get("series") or 0)
                    for x in (rec.plan.get("tables") or [] if rec else [])}
        for t in tables:
            s = stats[t]
            tm = self.mapping.table(t)
            counts = bucket_rows(s.hours, window_ns)
            files_of: dict[int, set[str]] = {}
            for h, names in s.hour_files.items():
                files_of.setdefault(h // window_ns * window_ns, set()).update(names)
            for start in sorted(counts):
                files = files_of.get(start, set())
                partitions.append(Partition(
                    migration=self.id, id=partition_id(t, start, window_ns), table_name=t,
                    bucket=tm.bucket, measurement=tm.measurement, start_ns=start,
                    stop_ns=start + window_ns, files=sorted(files, key=src.file_rank),
                    est_rows=counts[start]))
            table_plans.append(TablePlan(t, tm.bucket, tm.measurement, s, len(counts)))
            if s.series > self.mapping.cardinality_warning:
                warnings.append(
                    f"{tm.measurement}: about {s.series:,} series, above the "
                    f"{self.mapping.cardinality_warning:,} warning threshold: check that no "
                    "high-cardinality dimension (an id, a timestamp) became a tag; map it to a "
                    "field with dimension_fields")
            warnings += _mapping_warnings(tm.measurement, t, s, previous.get(t))
            if s.manifest_rows is not None and s.manifest_rows != s.rows:
                warnings.append(f"{t}: manifest says {s.manifest_rows:,} rows, files hold "
                                f"{s.rows:,}")
            if s.rejected:
                warnings.append(f"{t}: {s.rejected:,} rows will be rejected (see the reasons "
                                "after `migrate run` with `onsflux rejects`)")
            oldest = self.settings.retention_seconds
            if oldest and s.first_ns is not None and \
                    s.first_ns < time.time_ns() - oldest * 1_000_000_000:
                warnings.append(f"{t}: data from {iso(s.first_ns)} is older than the retention "
                                f"{self.settings.retention}: InfluxDB would drop it; raise "
                                "ONSFLUX_RETENTION")
        return Plan(self.id, self.id, window_ns, table_plans, partitions, warnings,
                    time.perf_counter() - started)

    def save(self, plan: Plan) -> int:
        doc = {k: v for k, v in plan.as_dict().items() if k != "partition_list"}
        doc["source_options"] = self.source_options
        record = MigrationRecord(self.id, plan.source, self.mapping.to_json(), plan.window_ns,
                                 doc, time.time())
        return self.store.save_plan(record, plan.partitions)
