"""Timestream ``UNLOAD`` exports, in a local folder or under an S3 prefix.

``UNLOAD (SELECT …) TO 's3://bucket/folder/' WITH (format = 'CSV' | 'PARQUET',
compression = 'GZIP' | 'NONE', partitioned_by = ARRAY[…], include_header = 'true',
field_delimiter = ',', escaped_by = '\\')`` writes, per successful query (layout as the
Timestream developer guide, "UNLOAD Concepts", documents it; the assumptions this reader
makes beyond it are marked *):

```
folder/results/[col=value/…]<query id>_<UUID>.csv | .gz | .parquet   the data files
folder/<query id>_<UUID>_manifest.json                              what was written
folder/<query id>_<UUID>_metadata.json                              columns and types
```

A failed query writes no manifest (but may leave result files): such a folder is
refused unless the caller says ``no_manifest``.

- **manifest**: ``{"result_files": [{"url": "s3://…/results/…", "file_metadata":
  {"content_length_in_bytes": N, "row_count": N}}], "query_metadata":
  {"total_content_length_in_bytes": N, "total_row_count": N, "result_format": "CSV" |
  "PARQUET", "result_version": "…"}, "author": {"name": "Amazon Timestream",
  "manifest_file_version": "1.0"}}``. The URLs name where UNLOAD wrote; an export copied
  elsewhere is found again by the part of the URL after ``/results/`` (*). Missing files
  and size differences are errors; the row counts are the first completeness check
  (every file is read in full during the plan and its rows compared).
- **metadata**: ``{"ColumnInfo": [{"Name": …, "Type": {"ScalarType": "VARCHAR" |
  "BIGINT" | "DOUBLE" | "BOOLEAN" | "TIMESTAMP"}}, …], "Author": {…}}`` in the
  SELECT's column order. Partition columns (``partitioned_by``) are not inside the
  files but in the folder names ``col=value`` (URL-escaped, Hive style) (*); when the
  metadata lists them, they are typed as it says, else VARCHAR.
- **CSV**: no header unless ``include_header = 'true'`` (auto-detected: a first line
  equal to the column names is a header (*)); fields separated by ``field_delimiter``
  (default ``,``); a value holding the delimiter is quoted with ``"`` (the quote
  character is fixed); a ``"`` or the escape character inside a value is preceded by
  ``escaped_by`` (default ``\\``); a newline inside a value is quoted (*); an empty
  unquoted field is NULL, a quoted empty field ``""`` is an empty string (*); TIMESTAMP
  as ``2024-01-01 00:00:00.000000000`` (*). GZIP files (named ``.gz``) are recognised by
  their magic bytes, whatever their name.
- **Parquet**: columns typed (int64, double, bool, string; TIMESTAMP as a Parquet
  timestamp of any unit, or text) (*). Row groups whose ``time`` statistics fall outside
  the requested window are not read.

Every frame returned carries ``_row`` (1-based data row in its file) for rejects.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..exceptions import SchemaError, SourceError
from ..frames import ROW
from ..settings import Settings
from .objects import (
    filesystem,
    is_s3,
    local_path,
    open_random_access,
    translate_arrow,
    walk,
)
from .timestream import cast_text, column_types


@dataclass(frozen=True)
class CsvOptions:
    """How the UNLOAD wrote its CSV (its ``WITH`` options)."""

    delimiter: str = ","
    quote: str = '"'
    escape: str = "\\"
    header: str = "auto"  # "auto" | "true" | "false"


DEFAULT_CSV = CsvOptions()


@dataclass(frozen=True)
class UnloadFile:
    url: str
    size: int | None
    rows: int | None  # manifest row_count
    partition: tuple[tuple[str, str], ...] = ()


@dataclass
class UnloadExport:
    """One UNLOAD result: a manifest, a metadata file and its result files."""

    root: str
    table: str
    result_format: str
    types: dict[str, str]
    files: list[UnloadFile]
    total_rows: int | None
    manifest: str | None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"root": self.root, "table": self.table, "format": self.result_format,
                "files": len(self.files), "manifest_rows": self.total_rows,
                "manifest": self.manifest, "warnings": self.warnings}


# --------------------------------------------------------------------------- listing

def list_all(url: str, settings: Settings) -> list[tuple[str, int]]:
    """Every object/file below ``url`` (url, size), hidden ones skipped, sorted."""
    if not is_s3(url) and not local_path(url).exists():
        raise SourceError("no such file or directory", path=str(local_path(url)))
    return [(r.url, r.size) for r in walk(url, settings, keep=lambda name: True)]


def read_bytes(url: str, settings: Settings) -> bytes:
    fs, path = filesystem(url, settings)
    try:
        with fs.open_input_stream(path) as stream:
            return bytes(stream.read())
    except (OSError, pa.ArrowException) as exc:
        raise translate_arrow(exc, url) from exc


def _parent(url: str) -> str:
    return url.rsplit("/", 1)[0]


def partition_of(rel: str) -> tuple[tuple[str, str], ...]:
    """``a=1/b=x%20y/file`` → ``(("a", "1"), ("b", "x y"))``."""
    parts = rel.split("/")[:-1]
    out = []
    for p in parts:
        if "=" in p:
            k, v = p.split("=", 1)
            out.append((unquote(k), unquote(v)))
    return tuple(out)


def discover(
    source: str, settings: Settings, tables: Sequence[str], table: str | None = None,
    *, no_manifest: bool = False,
) -> list[UnloadExport]:
    """Every UNLOAD export under ``source`` (a folder or ``s3://bucket/prefix``), in
    *export order*: by folder, then by manifest name; each export's files in the order
    its manifest lists them.

    A folder whose ``results/`` holds files but no ``*_manifest.json`` sits next to it is
    what a failed (or unfinished) UNLOAD leaves: Timestream writes the manifest only for
    a successful query. It is refused (:class:`SourceError`) unless ``no_manifest``; then
    its files are read without the manifest's checks and the export carries a warning.
    Several manifests in one folder (UNLOADs run into the same destination) are several
    exports sharing ``results/``; a results file no manifest lists is not migrated and
    is named in a warning.

    The table an export belongs to: ``table`` when given, else the first folder name on
    its path (from ``source`` down, ``source``'s own name included) that is a table of
    the mapping, else the mapping's only table.
    """
    source = source.rstrip("/")
    if not is_s3(source):
        source = str(local_path(source).resolve())
    listing = list_all(source, settings)
    if not listing:
        raise SourceError("empty: no UNLOAD export here", path=source)
    sizes = dict(listing)
    roots: dict[str, list[str]] = {}
    for u, _ in listing:
        if u.endswith("_manifest.json"):
            roots.setdefault(_parent(u), []).append(u)
    for u, _ in listing:  # results/ folders without a manifest
        if "/results/" in u:
            roots.setdefault(u.split("/results/", 1)[0], [])
    if not roots:
        raise SourceError("no *_manifest.json and no results/ folder: not an UNLOAD export",
                          path=source)
    exports: list[UnloadExport] = []
    for root, manifests in sorted(roots.items()):
        if not manifests:
            if not no_manifest:
                raise SourceError(
                    "results/ without a *_manifest.json: Timestream writes the manifest only "
                    "when an UNLOAD succeeds, so this export failed or is still being "
                    "written and may be incomplete; export again, or pass --no-manifest to "
                    "migrate these files as they are", path=root)
            exports.append(_export(source, root, None, listing, sizes, settings, tables,
                                   table))
            continue
        found = [_export(source, root, m, listing, sizes, settings, tables, table)
                 for m in sorted(manifests)]
        listed = {f.url for e in found for f in e.files}
        prefix = root + "/results/"
        extra = [u[len(prefix):] for u, _ in listing
                 if u.startswith(prefix) and u not in listed]
        if extra:
            found[0].warnings.append(
                f"{len(extra)} file(s) under {prefix} not listed in any manifest, not "
                f"migrated (left by a failed UNLOAD into the same folder?): "
                f"{', '.join(extra[:3])}{' …' if len(extra) > 3 else ''}")
        exports.extend(found)
    return exports


def _table_for(source: str, root: str, tables: Sequence[str], table: str | None) -> str:
    if table:
        return table
    names = [source.rsplit("/", 1)[-1], *root[len(source):].strip("/").split("/")]
    for name in names:
        if name in tables:
            return name
    if len(tables) == 1:
        return tables[0]
    raise SourceError(
        f"cannot tell which table this export holds (no folder named one of "
        f"{', '.join(tables)} on its path): pass --table", path=root)


def _metadata_for(root: str, manifest: str | None, listing: list[tuple[str, int]]
                  ) -> str | None:
    """The metadata file of ``manifest`` (same ``<query id>_<UUID>`` prefix), else the
    folder's only one."""
    metas = [u for u, _ in listing if _parent(u) == root and u.endswith("_metadata.json")]
    if manifest is not None:
        twin = manifest[: -len("_manifest.json")] + "_metadata.json"
        if twin in metas:
            return twin
    return metas[0] if len(metas) == 1 else None


def _export(
    source: str, root: str, manifest: str | None, listing: list[tuple[str, int]],
    sizes: dict[str, int], settings: Settings, tables: Sequence[str], table: str | None,
) -> UnloadExport:
    warnings: list[str] = []
    results_prefix = root + "/results/"
    on_disk = {u[len(results_prefix):]: s for u, s in listing if u.startswith(results_prefix)}
    meta_url = _metadata_for(root, manifest, listing)
    types: dict[str, str] = {}
    if meta_url:
        try:
            doc = json.loads(read_bytes(meta_url, settings))
            types = column_types(doc["ColumnInfo"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError(f"metadata file unreadable: {exc}", path=meta_url) from exc
    files: list[UnloadFile] = []
    total_rows: int | None = None
    fmt = ""
    if manifest:
        try:
            doc = json.loads(read_bytes(manifest, settings))
            qm = doc.get("query_metadata") or {}
            total_rows = qm.get("total_row_count")
            fmt = str(qm.get("result_format") or "").upper()
            entries = doc["result_files"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError(f"manifest unreadable: {exc}", path=manifest) from exc
        missing = []
        for entry in entries:
            url = str(entry["url"])
            rel = url.split("/results/", 1)[1] if "/results/" in url else url.rsplit("/", 1)[-1]
            meta = entry.get("file_metadata") or {}
            want = meta.get("content_length_in_bytes")
            if rel not in on_disk:
                missing.append(rel)
                continue
            if want is not None and int(want) != on_disk[rel]:
                raise SourceError(
                    f"result file {rel} has {on_disk[rel]} bytes, the manifest says {want}: "
                    "incomplete copy?", path=manifest)
            files.append(UnloadFile(results_prefix + rel, on_disk[rel], meta.get("row_count"),
                                    partition_of(rel)))
        if missing:
            raise SourceError(f"{len(missing)} result files listed in the manifest are missing "
                              f"(first: {missing[0]})", path=manifest)
        counted = sum(int(f.rows or 0) for f in files)
        if total_rows is not None and counted != int(total_rows):
            raise SourceError(f"manifest total_row_count {total_rows} differs from the sum of "
                              f"its files' row_count {counted}", path=manifest)
    else:
        warnings.append(f"{root}: no manifest (--no-manifest): a failed or unfinished UNLOAD "
                        "leaves none; its files are migrated as found and their row counts "
                        "cannot be checked")
        files = [UnloadFile(results_prefix + rel, size, None, partition_of(rel))
                 for rel, size in sorted(on_disk.items())]
    if not fmt and files:
        fmt = "PARQUET" if files[0].url.endswith(".parquet") else "CSV"
    if fmt == "CSV" and not types:
        raise SourceError("CSV export without *_metadata.json: column names and types unknown",
                          path=root)
    return UnloadExport(root=root, table=_table_for(source, root, tables, table),
                        result_format=fmt or "CSV", types=types, files=files,
                        total_rows=None if total_rows is None else int(total_rows),
                        manifest=manifest, warnings=warnings)


# --------------------------------------------------------------------------- reading

def _file_columns(export: UnloadExport, f: UnloadFile) -> list[str]:
    keys = {k for k, _ in f.partition}
    return [n for n in export.types if n not in keys]


def _raw(url: str, settings: Settings) -> bytes:
    data = read_bytes(url, settings)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise SourceError(f"corrupt gzip: {exc}", path=url) from exc
    return data


def _read_csv(export: UnloadExport, f: UnloadFile, settings: Settings, opts: CsvOptions,
              columns: Iterable[str] | None) -> pl.DataFrame:
    names = _file_columns(export, f)
    data = _raw(f.url, settings)
    first = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    header = opts.header == "true" or (
        opts.header == "auto" and [c.strip(opts.quote) for c in first.split(opts.delimiter)]
        == names)
    wanted = [c for c in names if columns is None or c in columns]
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if header else 0),
            parse_options=pacsv.ParseOptions(
                delimiter=opts.delimiter, quote_char=opts.quote or False,
                escape_char=opts.escape or False, double_quote=not opts.escape,
                newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, include_columns=wanted,
                strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        first_line = str(exc).splitlines()[0]
        hint = ""
        if f"Expected {len(names)} columns, got" in first_line:
            hint = (f" (read with field_delimiter {opts.delimiter!r} and escaped_by "
                    f"{opts.escape!r}: if the UNLOAD used others, pass --field-delimiter / "
                    "--escaped-by)")
        raise SourceError(f"not a readable CSV: {first_line}{hint}", path=f.url) from exc
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        [cast_text(frame.get_column(c), export.types.get(c, "VARCHAR")) for c in frame.columns]
    )


def _arrow_to_ts(frame: pl.DataFrame, types: dict[str, str]) -> pl.DataFrame:
    out = []
    for c in frame.columns:
        s = frame.get_column(c)
        want = types.get(c)
        if isinstance(s.dtype, pl.Datetime):
            s = s.dt.epoch("ns")  # any time unit: exact Int64 ns
        elif s.dtype == pl.Utf8 and want and want != "VARCHAR":
            s = cast_text(s, want)
        elif want in ("BIGINT", "INTEGER") and s.dtype != pl.Int64:
            s = s.cast(pl.Int64, strict=True)
        elif want == "DOUBLE" and s.dtype != pl.Float64:
            s = s.cast(pl.Float64, strict=True)
        out.append(s)
    return pl.DataFrame(out)


def _parquet_pieces(f: UnloadFile, settings: Settings, types: dict[str, str],
                    window: tuple[int, int] | None, time_col: str,
                    columns: Iterable[str] | None, max_rows: int | None
                    ) -> Iterator[pl.DataFrame]:
    """The file's row groups overlapping ``window``, read about ``max_rows`` rows at a
    time (whole row groups, at least one per piece; all in one piece when ``max_rows`` is
    None), typed, ``_row`` numbered. Yields one empty frame when no row group qualifies."""
    source = open_random_access(f.url, settings)
    try:
        pf = pq.ParquetFile(source)
        schema = pf.schema_arrow
        cols = None if columns is None else [c for c in schema.names if c in set(columns)]
        sizes = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
        groups = list(range(len(sizes)))
        offsets = [0]
        for n in sizes:
            offsets.append(offsets[-1] + n)
        if window is not None and time_col in schema.names:
            idx = schema.get_field_index(time_col)
            unit = _unit_ns(schema.field(idx).type)
            groups = [g for g in groups if _overlaps(pf, g, idx, window, unit)]
        runs: list[list[int]] = []
        for g in groups:
            if runs and (max_rows is None or
                         sum(sizes[x] for x in runs[-1]) + sizes[g] <= max_rows):
                runs[-1].append(g)
            else:
                runs.append([g])
        for run in runs:
            pieces = []
            for g in run:
                part = pl.from_arrow(pf.read_row_group(g, columns=cols))
                assert isinstance(part, pl.DataFrame)
                pieces.append(part.with_columns(
                    pl.int_range(offsets[g] + 1, offsets[g] + 1 + part.height, dtype=pl.UInt64)
                    .alias(ROW)))
            frame = pl.concat(pieces, how="vertical") if len(pieces) > 1 else pieces[0]
            yield _arrow_to_ts(frame.drop(ROW), types).with_columns(frame.get_column(ROW))
        if not runs:
            empty = pl.from_arrow(schema.empty_table().select(cols) if cols
                                  else schema.empty_table())
            assert isinstance(empty, pl.DataFrame)
            yield _arrow_to_ts(empty, types).with_columns(pl.lit(None, dtype=pl.UInt64).alias(ROW))
    except (OSError, pa.ArrowException) as exc:
        raise translate_arrow(exc, f.url) from exc
    finally:
        source.close()


def _unit_ns(dtype: pa.DataType) -> int | None:
    """Nanoseconds per unit of a time column's raw int64 Parquet statistics (None: not
    integers of a known unit; decode the statistics instead)."""
    if pa.types.is_timestamp(dtype):
        return {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[dtype.unit]
    if pa.types.is_integer(dtype):
        return 1
    return None


def _overlaps(pf: pq.ParquetFile, g: int, idx: int, window: tuple[int, int],
              unit_ns: int | None = None) -> bool:
    stats = pf.metadata.row_group(g).column(idx).statistics
    if stats is None or not stats.has_min_max:
        return True
    try:
        if unit_ns is not None and stats.physical_type == "INT64":
            # the raw int64 in the column's unit: decoding a timestamp[ns] statistic
            # would import pandas (~0.8 s per process)
            lo_ns, hi_ns = int(stats.min_raw) * unit_ns, int(stats.max_raw) * unit_ns
        else:
            lo_ns, hi_ns = _to_ns(stats.min), _to_ns(stats.max)
    except (TypeError, ValueError):
        return True
    return hi_ns >= window[0] and lo_ns < window[1]


def _to_ns(value: Any) -> int:
    import datetime as dt

    if isinstance(value, int):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return int((delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000)
    if hasattr(value, "value"):  # pandas Timestamp
        return int(value.value)
    raise TypeError(type(value))


def read_file(
    export: UnloadExport, f: UnloadFile, settings: Settings, *,
    csv: CsvOptions = DEFAULT_CSV, window: tuple[int, int] | None = None,
    time_col: str = "time", columns: Iterable[str] | None = None,
) -> pl.DataFrame:
    """One result file as a typed frame (Timestream column names, ``time`` Int64 ns),
    partition columns added, ``_row`` numbered; rows outside ``window`` dropped."""
    return next(iter_file(export, f, settings, csv=csv, window=window, time_col=time_col,
                          columns=columns))


def iter_file(
    export: UnloadExport, f: UnloadFile, settings: Settings, *,
    csv: CsvOptions = DEFAULT_CSV, window: tuple[int, int] | None = None,
    time_col: str = "time", columns: Iterable[str] | None = None,
    max_rows: int | None = None,
) -> Iterator[pl.DataFrame]:
    """:func:`read_file` in pieces of about ``max_rows`` rows (Parquet: whole row groups,
    so a piece may hold more; CSV: the whole file at once), so ``migrate run`` starts
    writing before a large file is read. At least one frame is yielded."""
    cols = None if columns is None else set(columns) | {time_col}
    if export.result_format == "PARQUET":
        frames: Iterator[pl.DataFrame] = _parquet_pieces(f, settings, export.types, window,
                                                         time_col, cols, max_rows)
    else:
        frame = _read_csv(export, f, settings, csv, cols)
        frames = iter([frame.with_columns(
            pl.int_range(1, frame.height + 1, dtype=pl.UInt64).alias(ROW))])
    for frame in frames:
        yield _finish(frame, export, f, cols, time_col, window)


def _finish(frame: pl.DataFrame, export: UnloadExport, f: UnloadFile, cols: set[str] | None,
            time_col: str, window: tuple[int, int] | None) -> pl.DataFrame:
    for key, value in f.partition:
        if cols is not None and key not in cols:
            continue
        s = pl.Series(key, [value] * frame.height, dtype=pl.Utf8)
        frame = frame.with_columns(cast_text(s, export.types.get(key, "VARCHAR")))
    if time_col not in frame.columns:
        raise SchemaError(f"no {time_col!r} column (columns: {', '.join(frame.columns)})",
                          path=f.url)
    if frame.schema[time_col] != pl.Int64:
        frame = frame.with_columns(pl.col(time_col).cast(pl.Int64))
    if window is not None:
        frame = frame.filter((pl.col(time_col) >= window[0]) & (pl.col(time_col) < window[1]))
    return frame
