"""Encode benchmark: our vectorized line-protocol encoder vs influxdb-client's.

One deterministic generation_data frame (``rows`` rows: time, region/source/plant tags,
power_mw/capacity_factor/availability floats) is encoded into write bodies of 5 000
lines / 4 MiB by

- ``ours``: ``encode_lines`` + ``batches`` (bodies consumed, not kept);
- ``influxdb_client``: ``DataframeSerializer(...).serialize()`` — what
  ``WriteApi.write(record=pandas_df, data_frame_measurement_name=…,
  data_frame_tag_columns=…)`` runs before sending — then the same 5 000-line bodies.
  The pandas frame (UTC DatetimeIndex) is built once, outside the timed part.

Each contender runs ``repeats`` times; the median is reported. Correctness: every
``sample_every``-th line of both outputs is parsed and compared as points (measurement,
tags, field values as doubles, timestamp). The texts differ by design: the client writes
fields in alphabetical order and Python's float repr (``1e-07``) where polars writes
``1e-7``; both parse to the same doubles.

Run: ``onsflux bench encode --json`` or ``python -m onsflux.bench.encode [--rows N] [--json]``.
"""

from __future__ import annotations

import argparse
import json as jsonlib
from typing import Any

import polars as pl

from onsflux.catalog import FieldType
from onsflux.ingest.encode import batches, encode_lines

from .common import contender, environment, median_of

MEASUREMENT = "generation_data"
TAGS = ["region", "source", "plant"]
FIELDS: dict[str, FieldType] = {"power_mw": "float", "capacity_factor": "float",
                                "availability": "float"}
BATCH_LINES = 5000
BATCH_BYTES = 4 * 1024 * 1024
T0 = 1_640_995_200_000_000_000  # 2022-01-01T00:00:00Z
HOUR = 3_600_000_000_000


def make_frame(rows: int) -> pl.DataFrame:
    """Deterministic frame: 400 plants, hourly, full-precision floats (no randomness)."""
    plants = 400
    i = pl.int_range(0, rows, dtype=pl.Int64)
    p = i % plants
    regions = pl.Series(["north", "northeast", "southeast", "south", "sin"])
    sources = pl.Series(["hydro", "thermal", "wind", "solar", "nuclear", "other"])
    names = pl.Series([f"plant_{k:03d}" for k in range(plants)])
    frame = pl.select(
        (pl.lit(T0) + (i // plants) * HOUR).alias("time"),
        p.alias("_p"),
        ((i * 2654435761) % 1_000_003).alias("_h"),
    )
    return frame.select(
        "time",
        regions.gather(frame["_p"] % 5).alias("region"),
        sources.gather(frame["_p"] % 6).alias("source"),
        names.gather(frame["_p"]).alias("plant"),
        (pl.col("_h").cast(pl.Float64) / 333.7).alias("power_mw"),
        (pl.col("_h").cast(pl.Float64) / 1_000_003).alias("capacity_factor"),
        (1 - ((pl.col("_h") * 7) % 1000).cast(pl.Float64) / 1e7).alias("availability"),
    )


def _ours(frame: pl.DataFrame) -> tuple[int, int, pl.Series]:
    lines = encode_lines(MEASUREMENT, frame, TAGS, FIELDS)
    total = bodies = 0
    for _, _, body in batches(lines, BATCH_LINES, BATCH_BYTES):
        total += len(body)
        bodies += 1
    return bodies, total, lines


def _theirs(pdf: Any) -> tuple[int, int, list[str]]:
    from influxdb_client.client.write.dataframe_serializer import DataframeSerializer
    from influxdb_client.client.write_api import PointSettings
    from influxdb_client.domain.write_precision import WritePrecision

    lines = DataframeSerializer(
        pdf,
        PointSettings(),
        WritePrecision.NS,
        data_frame_measurement_name=MEASUREMENT,
        data_frame_tag_columns=TAGS,
    ).serialize()
    total = bodies = 0
    for start in range(0, len(lines), BATCH_LINES):
        body = "\n".join(lines[start : start + BATCH_LINES]).encode()
        total += len(body)
        bodies += 1
    return bodies, total, lines


def _point(line: str) -> tuple[str, tuple[tuple[str, ...], ...], tuple[tuple[str, float], ...], int]:
    """Parse a line of this benchmark's data (no escapes in it) into a comparable point."""
    if "\\" in line or '"' in line:
        raise ValueError(f"unexpected escape in benchmark data: {line!r}")
    key, field_set, ts = line.split(" ")
    measurement, *tag_pairs = key.split(",")
    tags = tuple(sorted(tuple(t.split("=", 1)) for t in tag_pairs))
    fields = tuple(
        sorted((k, float(v)) for k, v in (f.split("=", 1) for f in field_set.split(",")))
    )
    return measurement, tags, fields, int(ts)


def run(*, rows: int = 1_000_000, repeats: int = 3, json: bool = False,
        sample_every: int = 97) -> dict[str, Any]:
    """Time both encoders on the same ``rows``-row frame; see the module docstring."""
    frame = make_frame(rows)
    pdf = (
        frame.with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC")))
        .to_pandas()
        .set_index("time")
    )

    ours_med, ours_runs, (o_bodies, o_bytes, o_lines) = median_of(lambda: _ours(frame), repeats)
    their_med, their_runs, (t_bodies, t_bytes, t_lines) = median_of(lambda: _theirs(pdf), repeats)

    sample: list[int] = list(range(0, rows, max(1, sample_every)))
    same_count = len(t_lines) == rows == len(o_lines)
    if same_count:
        # plus every line whose length differs (different float spellings, e.g. 1e-07)
        theirs_s = pl.Series(t_lines, dtype=pl.Utf8)
        differ = (o_lines.str.len_bytes() != theirs_s.str.len_bytes()).arg_true().to_list()
        sample = sorted(set(sample) | set(differ))
        mismatches = [i for i in sample if _point(o_lines[i]) != _point(t_lines[i])]
        text_equal = int((o_lines == theirs_s).sum())
    else:
        mismatches, text_equal, differ = list(sample), 0, []
    result: dict[str, Any] = {
        "name": "encode",
        "rows": rows,
        "repeats": repeats,
        "batch_lines": BATCH_LINES,
        "batch_bytes": BATCH_BYTES,
        "ours": {**contender(ours_runs, rows), "bodies": o_bodies, "body_bytes": o_bytes},
        "influxdb_client": {**contender(their_runs, rows), "bodies": t_bodies,
                            "body_bytes": t_bytes},
        "speedup": round(their_med / ours_med, 2),
        "identical_output": not mismatches,
        "sample_checked": len(sample),
        "length_differs_lines": len(differ) if same_count else None,
        "sample_mismatches": mismatches[:10],
        "text_identical_lines": text_equal,
        "notes": [
            "identical_output compares parsed points on every "
            f"{sample_every}th line and on every line whose length differs; texts differ by "
            "field order (client: alphabetical) and float spelling (client 1e-07, polars 1e-7)",
            "the pandas frame for influxdb_client is built outside the timed part",
        ],
        "environment": environment(),
    }
    if not json:
        print(
            f"encode {rows:,} rows, median of {repeats}: ours {ours_med:.3f}s "
            f"({rows / ours_med:,.0f} points/s), influxdb-client {their_med:.3f}s "
            f"({rows / their_med:,.0f} points/s), speedup {result['speedup']}x, "
            f"identical points: {result['identical_output']}"
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(rows=args.rows, repeats=args.repeats, json=args.json)
    if args.json:
        print(jsonlib.dumps(result, indent=2))


if __name__ == "__main__":
    main()
