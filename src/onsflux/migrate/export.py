"""Write a Timestream-UNLOAD-shaped export from a frame (tests, benchmarks, demos).

The layout, manifest, metadata and CSV conventions are the ones
:mod:`onsflux.sources.unload` documents and reads: ``ROOT/TABLE/QUERY_ID/results/…``,
``QUERY_ID_manifest.json``, ``QUERY_ID_metadata.json``.
"""

from __future__ import annotations

import datetime as dt
import gzip as gzip_lib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl


def ts_text(ns: int) -> str:
    """Int ns → ``2024-01-01 00:00:00.000000000`` (Timestream TIMESTAMP text)."""
    secs, frac = divmod(ns, 1_000_000_000)
    t = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs)
    return t.strftime("%Y-%m-%d %H:%M:%S") + f".{frac:09d}"


def _csv_cell(value: object, scalar: str, delim: str, quote_ch: str, esc: str) -> str:
    if value is None:
        return ""
    if scalar == "TIMESTAMP":
        return ts_text(int(value))  # type: ignore[call-overload]
    if scalar == "BOOLEAN":
        return "true" if value else "false"
    if scalar == "DOUBLE":
        return repr(float(value))  # type: ignore[arg-type]
    text = str(value)
    if text == "" or any(c in text for c in (delim, quote_ch, esc, "\n", "\r")):
        text = text.replace(esc, esc + esc).replace(quote_ch, esc + quote_ch)
        return f"{quote_ch}{text}{quote_ch}"
    return text


def write_unload(
    root: str | Path, table: str, frame: pl.DataFrame, types: dict[str, str], *,
    fmt: str = "PARQUET", gzip: bool = False, header: bool = False, delimiter: str = ",",
    partitioned_by: Sequence[str] = (), rows_per_file: int = 1_000_000,
    query_id: str = "AEDAQAND5LM7BSW4", row_group_size: int = 100_000,
    bucket_url: str = "s3://timestream-unload/exports",
) -> Path:
    """Write ``frame`` (columns in ``types`` order, ``time`` Int64 ns) as one UNLOAD result."""
    base = Path(root) / table / query_id
    results = base / "results"
    results.mkdir(parents=True, exist_ok=True)
    names = list(types)
    groups = frame.partition_by(list(partitioned_by), maintain_order=True, as_dict=True) \
        if partitioned_by else {(): frame}
    entries: list[dict[str, Any]] = []
    n = 0
    for key, part in groups.items():
        sub = results
        for col, value in zip(partitioned_by, key, strict=True):
            sub = sub / f"{quote(str(col), safe='')}={quote(str(value), safe='')}"
        sub.mkdir(parents=True, exist_ok=True)
        cols = [c for c in names if c not in partitioned_by]
        for offset in range(0, max(part.height, 1), rows_per_file):
            piece = part.slice(offset, rows_per_file).select(cols)
            n += 1
            stem = f"{query_id}_{n:05d}"
            if fmt.upper() == "PARQUET":
                path = sub / f"{stem}.parquet"
                out = piece.with_columns(
                    [pl.col(c).cast(pl.Datetime("ns", "UTC")) for c in cols
                     if types[c] == "TIMESTAMP"])
                out.write_parquet(path, row_group_size=row_group_size,
                                  compression="gzip" if gzip else "snappy", statistics=True)
            else:
                lines = []
                if header:
                    lines.append(delimiter.join(cols))
                scalars = [types[c] for c in cols]
                for row in piece.iter_rows():
                    lines.append(delimiter.join(_csv_cell(v, s, delimiter, '"', "\\")
                                                for v, s in zip(row, scalars, strict=True)))
                data = ("\n".join(lines) + "\n").encode()
                path = sub / (f"{stem}.csv.gz" if gzip else f"{stem}.csv")
                path.write_bytes(gzip_lib.compress(data, mtime=0) if gzip else data)
            rel = path.relative_to(results).as_posix()
            entries.append({"url": f"{bucket_url}/{table}/{query_id}/results/{rel}",
                            "file_metadata": {"content_length_in_bytes": path.stat().st_size,
                                              "row_count": piece.height}})
    manifest = {
        "result_files": entries,
        "query_metadata": {
            "total_content_length_in_bytes": sum(e["file_metadata"]["content_length_in_bytes"]
                                                 for e in entries),
            "total_row_count": frame.height, "result_format": fmt.upper(),
            "result_version": "Amazon Timestream version 1.0.0"},
        "author": {"name": "Amazon Timestream", "manifest_file_version": "1.0"},
    }
    (base / f"{query_id}_manifest.json").write_text(json.dumps(manifest, indent=2))
    metadata = {"ColumnInfo": [{"Name": c, "Type": {"ScalarType": types[c]}} for c in names],
                "Author": {"Name": "Amazon Timestream", "MetadataFileVersion": "1.0"}}
    (base / f"{query_id}_metadata.json").write_text(json.dumps(metadata, indent=2))
    return base
