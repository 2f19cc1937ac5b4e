"""The shapes data takes between stages: object references, chunks and rejects.

A *chunk* is a piece of one object already normalized to one measurement's wide shape:

- ``_row``: UInt64, the 1-based data-row number in the source object (header excluded),
  so every reject can name the row a person finds in the file;
- ``time``: Int64, UTC nanoseconds since the epoch;
- one Utf8 column per tag (canonical slug values; null = tag absent on that row);
- one column per field, typed as the catalog says (Float64, Int64, Boolean, Utf8).

Rejects are a polars frame with ``REJECT_SCHEMA`` so thousands of them cost no Python
loop; every stage that drops a row adds one reject row saying why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

ROW = "_row"
TIME = "time"

#: catalog field type (``catalog.FieldType``) -> the polars dtype a chunk holds it in
FIELD_DTYPES: dict[str, pl.DataType] = {
    "float": pl.Float64(),
    "integer": pl.Int64(),
    "boolean": pl.Boolean(),
    "string": pl.Utf8(),
}

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.Utf8(),
    "row": pl.UInt64(),
    "column": pl.Utf8(),
    "value": pl.Utf8(),
    "reason": pl.Utf8(),
}


def rfc3339(ns: int, *, seconds: bool = False) -> str:
    """UTC nanoseconds → RFC 3339, exactly (integer arithmetic, no float): the fraction is
    shown only when there is one; ``seconds=True`` cuts it (floor) for labels and ids."""
    secs, frac = divmod(int(ns), 1_000_000_000)
    stamp = (_EPOCH + dt.timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z" if frac and not seconds else f"{stamp}Z"


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def make_rejects(
    source: str, rows: pl.Series | list[int], column: str, values: pl.Series | list[str | None] | None,
    reason: str,
) -> pl.DataFrame:
    """Reject rows ``rows`` of ``source`` for one ``reason`` about ``column``.

    ``values`` (the offending values, shown truncated to 200 characters) may be None.
    """
    rows_s = pl.Series("row", rows, dtype=pl.UInt64)
    n = len(rows_s)
    if values is None:
        vals = pl.repeat(None, n, dtype=pl.Utf8, eager=True).alias("value")
    else:
        vals = pl.Series("value", values).cast(pl.Utf8, strict=False).str.slice(0, 200)
    return pl.DataFrame(
        {
            "source": pl.Series([source] * n, dtype=pl.Utf8),
            "row": rows_s,
            "column": pl.Series([column] * n, dtype=pl.Utf8),
            "value": vals.alias("value"),
            "reason": pl.Series([reason] * n, dtype=pl.Utf8),
        },
        schema=REJECT_SCHEMA,
    )


@dataclass(frozen=True)
class ObjectRef:
    """One unit of ingest work: a file on disk or an S3 object."""

    url: str
    size: int
    mtime_ns: int = 0
    etag: str | None = None
    #: why the object cannot be read, found while listing (a broken symbolic link, a FIFO):
    #: it fails alone, with this reason, instead of stopping the listing of its folder
    problem: str | None = None

    @property
    def fingerprint(self) -> str:
        """What says the object changed: the ETag when S3 gives one, else size and mtime."""
        return f"etag:{self.etag}" if self.etag else f"size:{self.size}:mtime:{self.mtime_ns}"

    @property
    def key(self) -> str:
        return self.url


@dataclass
class Chunk:
    """A piece of one object in one measurement's wide shape (see module docstring)."""

    source: str
    measurement: str
    frame: pl.DataFrame
    tags: list[str]
    fields: list[str]
    rejects: pl.DataFrame = field(default_factory=empty_rejects)
    notes: list[str] = field(default_factory=list)
    #: rows of the source this chunk accounts for (kept + rejected by the adapter)
    source_rows: int = 0


