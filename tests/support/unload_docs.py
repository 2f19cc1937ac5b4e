"""Timestream UNLOAD exports written as the AWS documentation describes them.

Independent of ``onsflux.migrate.export`` (our own writer), so the reader is tested
against the documented layout, not against itself. From the Timestream developer guide,
"UNLOAD Concepts" (docs.aws.amazon.com/timestream/latest/developerguide/
export-unload-concepts.html):

- the TO folder receives ``results/`` and, for a successful query only,
  ``<queryid>_<UUID>_manifest.json`` and ``<queryid>_<UUID>_metadata.json``
  ("For failed queries, Timestream for LiveAnalytics does not export a manifest file",
  best practices page);
- result files are ``results/<queryid>_<UUID>.csv``, ``.gz`` for compressed CSV,
  ``.parquet``; ``partitioned_by`` adds ``results/<column>=<value>/`` folders and the
  partition column is not in the files;
- manifest: ``result_files[{url, file_metadata{content_length_in_bytes, row_count}}]``,
  ``query_metadata{total_content_length_in_bytes, total_row_count, result_format,
  result_version}``, ``author{name, manifest_file_version}``; metadata: ``ColumnInfo``
  as in the Query API, ``Author{Name, MetadataFileVersion}``;
- CSV: ``field_delimiter`` (default ``,``); a value containing the delimiter is quoted
  with ``"``; a ``"`` or the escape character in a value is preceded by ``escaped_by``
  (default ``\\``): ``Time"stream`` → ``Time\\"stream``, ``Time\\stream`` →
  ``Time\\\\stream``; ``include_header`` default false, the options apply to the header
  too.
"""

from __future__ import annotations

import gzip as gzip_lib
import json
from collections.abc import Sequence
from pathlib import Path

QUERY_ID = "AEDAAANGH3D7FYHOBQGQQMEAISCJ45B42OWWJMOT4N6RRJICZUA7R25VYVOHJIY"


def csv_value(value: str | None, delimiter: str, escape: str) -> str:
    """One CSV cell as UNLOAD writes it (NULL as an empty field)."""
    if value is None:
        return ""
    text = value.replace(escape, escape + escape).replace('"', escape + '"')
    if delimiter in text or "\n" in text:
        text = f'"{text}"'
    return text


def write_export(
    folder: Path, columns: Sequence[tuple[str, str]], files: Sequence[Sequence[Sequence[str | None]]],
    *, delimiter: str = ",", escape: str = "\\", header: bool = False, gzip: bool = False,
    manifest: bool = True, uuid: str = "1448466917_szCL4YgVYzGXj2lS",
    bucket: str = "s3://my_timestream_unloads/ons",
) -> Path:
    """One CSV UNLOAD into ``folder``: ``files`` is a list of files, each a list of rows of
    text cells (TIMESTAMP as ``2024-01-01 00:00:00.000000000``). ``manifest=False``
    leaves what a failed query leaves: the result files only."""
    results = folder / "results"
    results.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, rows in enumerate(files):
        lines = []
        if header:
            lines.append(delimiter.join(csv_value(n, delimiter, escape) for n, _ in columns))
        lines += [delimiter.join(csv_value(v, delimiter, escape) for v in row) for row in rows]
        data = ("\n".join(lines) + "\n").encode()
        name = f"{QUERY_ID}_{uuid}_{i:03d}" + (".gz" if gzip else ".csv")
        path = results / name
        path.write_bytes(gzip_lib.compress(data) if gzip else data)
        entries.append({"url": f"{bucket}/results/{name}",
                        "file_metadata": {"content_length_in_bytes": path.stat().st_size,
                                          "row_count": len(rows)}})
    if manifest:
        doc = {"result_files": entries,
               "query_metadata": {
                   "total_content_length_in_bytes": sum(
                       e["file_metadata"]["content_length_in_bytes"] for e in entries),
                   "total_row_count": sum(len(r) for r in files), "result_format": "CSV",
                   "result_version": "Amazon Timestream version 1.0.0"},
               "author": {"name": "Amazon Timestream", "manifest_file_version": "1.0"}}
        (folder / f"{QUERY_ID}_{uuid}_manifest.json").write_text(json.dumps(doc, indent=2))
        meta = {"ColumnInfo": [{"Name": n, "Type": {"ScalarType": t}} for n, t in columns],
                "Author": {"Name": "Amazon Timestream", "MetadataFileVersion": "1.0"}}
        (folder / f"{QUERY_ID}_{uuid}_metadata.json").write_text(json.dumps(meta, indent=2))
    return folder


def write_parquet_results(folder: Path, tables: Sequence[object],
                          uuid: str = "2231876547_aQ9xLmP0TzVb3KwE") -> list[Path]:
    """Parquet result files under ``folder/results/`` and nothing else: what a failed
    Parquet UNLOAD leaves (``tables``: pyarrow tables)."""
    import pyarrow.parquet as pq

    results = folder / "results"
    results.mkdir(parents=True, exist_ok=True)
    out = []
    for i, table in enumerate(tables):
        path = results / f"{QUERY_ID}_{uuid}_{i:03d}.parquet"
        pq.write_table(table, path)  # type: ignore[arg-type]
        out.append(path)
    return out
