"""Streaming Parquet and CSV readers, and ``read_object``: one object → Chunks.

Memory is bounded by the chunk, not the file:

- **Parquet**: ``ParquetFile.iter_batches(batch_size=chunk_rows, columns=…)`` reads only
  the columns the detected format needs, row group by row group (ranged GETs on S3);
- **CSV** (also ``.csv.gz``, ``.txt``): ``pyarrow.csv.open_csv`` streaming reader, every
  column read as text (numbers are coerced by the adapters, so a stray value in row
  900 000 is a reject, not a crash), with the block size estimated from the average
  row length in the first MiB so one block ≈ one chunk.

Batches are re-cut to exactly ``chunk_rows`` rows (the last one shorter) before the
adapters see them.

CSV dialect, from the first MiB: a BOM (UTF-8, UTF-16) is stripped; UTF-16 with or
without a BOM is recognised; a file that is plain ASCII there is decided by its first
byte above 127, wherever it comes (valid UTF-8 → UTF-8, else cp1252, what ONS files come
in); the separator is the most frequent of ``; , TAB |`` in the header line. Quote
semantics only when the header is quoted: ONS files are not, and a stray ``"`` must stay
in its field instead of swallowing the rest of the file (fields wholly wrapped in quotes
are still unwrapped). Malformed rows (wrong number of fields) are skipped by the parser
and become rejects with the row's text, not an error.
"""

from __future__ import annotations

import codecs
import csv
import io
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..exceptions import OnsfluxError, SchemaError, SourceError
from ..frames import ROW, Chunk, ObjectRef, empty_rejects, make_rejects
from ..settings import Settings
from .adapters import make_adapter
from .detect import detect_format, name_list
from .objects import check_readable, first_line, open_random_access, open_stream, read_head, translate_arrow

PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
HEAD_BYTES = 1 << 20
SEPARATORS = (";", ",", "\t", "|")
_MIN_BLOCK = 64 << 10
#: pyarrow's streaming CSV reader parses a few dozen blocks ahead of its consumer
#: (measured with pyarrow 26: ~38 MiB buffered at 1 MiB blocks, ~228 MiB at 6 MiB), so
#: blocks stay small and ``rebatch`` assembles the chunk: memory follows the chunk
_MAX_BLOCK = 1 << 20


@dataclass
class RawBatch:
    """Rows of the file as read: ``_row`` + the projected columns (original names)."""

    frame: pl.DataFrame
    rejects: pl.DataFrame = field(default_factory=empty_rejects)


class RawReader:
    url: str
    columns: list[str]
    notes: list[str]

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[RawBatch]:
        raise NotImplementedError


def rebatch(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Re-cut a stream of record batches into tables of exactly ``rows`` (last shorter)."""
    buf: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        buf.append(batch)
        count += batch.num_rows
        del batch  # no reference kept while suspended below: memory follows the chunk
        while count >= rows:
            table = pa.Table.from_batches(buf)
            rest = table.slice(rows)
            out = [table.slice(0, rows)]
            buf = [b for b in rest.to_batches() if b.num_rows]
            count = rest.num_rows
            del table, rest
            yield out.pop()
    if count:
        yield pa.Table.from_batches(buf)


def _to_polars(table: pa.Table) -> pl.DataFrame:
    df = pl.from_arrow(table, rechunk=False)
    assert isinstance(df, pl.DataFrame)
    cats = [c for c, t in df.schema.items() if isinstance(t, pl.Categorical | pl.Enum)]
    if cats:
        df = df.with_columns(pl.col(cats).cast(pl.Utf8))
    return df


# --- Parquet -------------------------------------------------------------------------

class ParquetReader(RawReader):
    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self.notes = []
        self._file = open_random_access(url, settings)
        try:
            size = self._file.size()
        except (OSError, pa.ArrowException) as exc:
            raise translate_arrow(exc, url) from exc
        self.empty = size == 0
        self.columns = []
        if self.empty:
            return
        try:
            self._pf = pq.ParquetFile(self._file)
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(
                f"not a readable Parquet file (truncated or not Parquet: {size} bytes): "
                f"{first_line(str(exc))}", path=url,
            ) from exc
        self.columns = list(self._pf.schema_arrow.names)
        self.num_rows = self._pf.metadata.num_rows

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[RawBatch]:
        if self.empty:
            return
        n = self.settings.chunk_rows
        offset = 0
        try:
            stream = self._pf.iter_batches(
                batch_size=n, columns=list(columns) if columns is not None else None
            )
            for table in rebatch(stream, n):
                df = _to_polars(table)
                rows = pl.Series(ROW, np.arange(offset + 1, offset + df.height + 1,
                                                dtype=np.uint64))
                offset += df.height
                out = [RawBatch(df.insert_column(0, rows))]
                del table, df, rows  # held by nothing here while the batch is processed
                yield out.pop()
        except (OSError, pa.ArrowException) as exc:
            raise translate_arrow(exc, self.url, "corrupt or truncated Parquet") from exc

    def close(self) -> None:
        self._file.close()


# --- CSV -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CsvDialect:
    #: what the first MiB says: ``utf-8``, ``utf-16-le``/``utf-16-be``, ``cp1252``, or
    #: ``ascii`` (no byte above 127 yet: decided by the first one, wherever it comes)
    encoding: str
    separator: str
    columns: list[str]
    bom: bool
    avg_row_bytes: float
    #: the header quotes its names: read with quote semantics; else none (ONS files are
    #: not quoted, so a stray ``"`` is a character of its field, not the start of a
    #: quoted field swallowing the rest of the file)
    quoted: bool = False
    header: str = ""


_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 without a BOM: text where every other byte of the first line is NUL."""
    sample = head[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.8 * len(odd) and even.count(0) < 0.2 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.8 * len(even) and odd.count(0) < 0.2 * len(odd):
        return "utf-16-be"
    return None


def sniff_csv(head: bytes, url: str = "") -> CsvDialect | None:
    """Encoding, separator, quoting and header names from the first bytes; None if empty."""
    bom = False
    encoding: str | None = None
    for mark, enc in _BOMS:
        if head.startswith(mark):
            bom, encoding, head = True, enc, head[len(mark):]
            break
    if encoding is None:
        encoding = _utf16_without_bom(head)
    if encoding in ("utf-16-le", "utf-16-be"):
        head = head[: len(head) // 2 * 2].decode(encoding, errors="replace").encode("utf-8")
    if not head.strip():
        return None
    if encoding is None:
        encoding = _guess_encoding(head)
    end = head.find(b"\n")
    if end < 0:
        if len(head) >= HEAD_BYTES:
            raise SourceError("no line break in the first MiB: not a CSV file", path=url)
        end = len(head)
    text_encoding = "utf-8" if encoding in ("ascii", "utf-16-le", "utf-16-be") else encoding
    header = head[:end].rstrip(b"\r").decode(text_encoding, errors="replace").lstrip("\ufeff")
    if "\x00" in header:
        raise SourceError("binary data where a CSV header was expected (not a text file, "
                          "or an encoding other than UTF-8, UTF-16, cp1252 or Latin-1)",
                          path=url)
    counts = {s: header.count(s) for s in SEPARATORS}
    separator = max(SEPARATORS, key=lambda s: counts[s]) if any(counts.values()) else ","
    quoted = '"' in header
    names = _header_names(header, separator, quoted)
    body = head[end + 1:]
    lines = body.count(b"\n")
    avg = len(body) / lines if lines else max(len(body), 64)
    return CsvDialect(encoding, separator, names, bom, avg, quoted, header)


def _header_names(header: str, separator: str, quoted: bool) -> list[str]:
    if quoted:
        return next(csv.reader(io.StringIO(header), delimiter=separator))
    return header.split(separator)


def _guess_encoding(head: bytes) -> str:
    if head.isascii():
        return "ascii"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the end of the sample is still UTF-8
        if exc.start >= len(head) - 3 and "unexpected end" in exc.reason:
            return "utf-8"
    return "cp1252"


def _decode_8bit(data: bytes) -> str:
    """cp1252 (what ONS files come in), Latin-1 for the five bytes cp1252 leaves undefined."""
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class _Utf8Stream(io.RawIOBase):
    """The file's bytes as UTF-8, whatever the encoding, deciding it where it shows.

    pyarrow's CSV reader reads UTF-8. A file whose first MiB is plain ASCII has not
    said its encoding yet: the first byte above 127 decides it, however far into the
    file (valid UTF-8 there → UTF-8, else cp1252), so a Latin-1 file whose first
    accent comes after the sample is read, not refused. UTF-16 is decoded; UTF-8
    passes through untouched (pyarrow validates it).
    """

    def __init__(self, raw: pa.NativeFile, encoding: str, on_decided: Callable[[str], None]
                 ) -> None:
        super().__init__()
        self._raw = raw
        self.encoding = encoding
        self._on_decided = on_decided
        self._pending = b""  # bytes held back: an incomplete character at a block's end
        self._out = b""
        self._eof = False
        self._utf16 = (codecs.getincrementaldecoder(encoding)("replace")
                       if encoding.startswith("utf-16") else None)

    def readable(self) -> bool:
        return True

    def _convert(self, data: bytes, final: bool) -> bytes:
        if self._utf16 is not None:
            return self._utf16.decode(data, final).encode("utf-8")
        if self.encoding == "ascii":
            if data.isascii():
                return data
            self.encoding = "utf-8" if _valid_utf8_prefix(data, final) else "cp1252"
            self._on_decided(self.encoding)
        if self.encoding == "utf-8":
            return data
        # cp1252 is one byte per character: no state between blocks
        return _decode_8bit(data).encode("utf-8")

    def readinto(self, buffer: Any) -> int:
        want = len(buffer)
        while not self._out and not self._eof:
            block = bytes(self._raw.read(max(want, 1 << 16)))
            if not block:
                self._eof = True
                self._out = self._convert(self._pending, True) if self._pending else b""
                self._pending = b""
                break
            data = self._pending + block
            self._pending = b""
            self._out = self._convert(data, False)
        n = min(want, len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def _valid_utf8_prefix(data: bytes, final: bool) -> bool:
    """Whether ``data`` is UTF-8 (a character cut at the end of a block still counts)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(data, final)
    except UnicodeDecodeError:
        return False
    return True


class CsvReader(RawReader):
    def __init__(self, url: str, settings: Settings, head: bytes,
                 separator: str | None = None) -> None:
        self.url = url
        self.settings = settings
        self.notes = []
        dialect = sniff_csv(head, url)
        if dialect is not None and separator is not None and separator != dialect.separator:
            names = _header_names(dialect.header, separator, dialect.quoted)
            dialect = replace(dialect, separator=separator, columns=names)
        self.dialect = dialect
        self.empty = dialect is None
        self.columns = list(dialect.columns) if dialect else []
        if dialect is not None and dialect.encoding not in ("utf-8", "ascii"):
            self._note_encoding(dialect.encoding)

    def _note_encoding(self, encoding: str) -> None:
        label = {"cp1252": "cp1252 (Windows Latin-1)", "utf-16-le": "UTF-16 LE",
                 "utf-16-be": "UTF-16 BE"}.get(encoding, encoding)
        self.notes.append(f"encoding {label}: the file is not UTF-8; read as {label}")

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[RawBatch]:
        if self.dialect is None:
            return
        d = self.dialect
        n = self.settings.chunk_rows
        block = int(min(max(n * d.avg_row_bytes * 1.05, _MIN_BLOCK), _MAX_BLOCK))
        skipped: list[tuple[int | None, str]] = []
        lock = threading.Lock()

        def on_invalid(row: pacsv.InvalidRow) -> str:
            with lock:
                skipped.append((row.number, f"expected {row.expected_columns} fields, got "
                                            f"{row.actual_columns}: {row.text}"))
            return "skip"

        def skipped_so_far() -> tuple[list[int], dict[int, str]]:
            """Sorted data-row numbers of the rows skipped so far, and their texts."""
            with lock:
                rows = [(num - 1 if num else 0, t) for num, t in skipped]
            return sorted(r for r, _ in rows), dict(rows)

        # rename duplicate/empty header names so pyarrow accepts them (detection has
        # already rejected real duplicates; this only covers ignored trailing columns)
        names = [c if c else f"__empty_{i}" for i, c in enumerate(d.columns)]
        include = list(columns) if columns is not None else names
        raw_stream = open_stream(self.url, self.settings)
        stream: Any = raw_stream
        if d.encoding != "utf-8":
            stream = _Utf8Stream(raw_stream, d.encoding, self._note_encoding)
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    use_threads=False, block_size=block, skip_rows=1, column_names=names,
                ),
                parse_options=pacsv.ParseOptions(delimiter=d.separator,
                                                 quote_char='"' if d.quoted else False,
                                                 invalid_row_handler=on_invalid),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in names}, include_columns=include,
                ),
            )
        except (OSError, pa.ArrowException) as exc:
            raw_stream.close()
            raise self._error(exc) from exc
        kept = 0
        emitted = 0  # how many skipped rows were already attached as rejects
        try:
            for table in rebatch(_iter_reader(reader), n):
                snapshot, texts = skipped_so_far()
                df = _to_polars(table)
                if not d.quoted:
                    df = _unquote(df)
                g = np.arange(kept, kept + df.height, dtype=np.int64)
                rows = _kept_rows(g, snapshot)
                kept += df.height
                last_row = int(rows[-1]) if len(rows) else 0
                pending = [r for r in snapshot[emitted:] if r <= last_row]
                emitted += len(pending)
                yield RawBatch(
                    df.insert_column(0, pl.Series(ROW, rows.astype(np.uint64))),
                    self._malformed(pending, texts),
                )
            snapshot, texts = skipped_so_far()
            rest = snapshot[emitted:]
            if rest:
                empty = pl.DataFrame(schema={ROW: pl.UInt64, **{c: pl.Utf8 for c in include}})
                yield RawBatch(empty, self._malformed(rest, texts))
        except (OSError, pa.ArrowException) as exc:
            raise self._error(exc) from exc
        finally:
            stream.close()
            raw_stream.close()

    def _malformed(self, rows: list[int], texts: dict[int, str]) -> pl.DataFrame:
        if not rows:
            return empty_rejects()
        return make_rejects(self.url, rows, "*", [texts[r] for r in rows], "malformed CSV row")

    def _error(self, exc: BaseException) -> OnsfluxError:
        text = str(exc)
        if "UTF8" in text or "UTF-8" in text or "utf-8" in text:
            return SourceError(
                "invalid UTF-8 after the first MiB: the file's first accented characters are "
                "UTF-8 but later bytes are not (mixed encodings): re-save the file as UTF-8",
                path=self.url,
            )
        return translate_arrow(exc, self.url, "cannot parse CSV")


def _unquote(df: pl.DataFrame) -> pl.DataFrame:
    """Read without quote semantics, a field wholly wrapped in quotes (``"1.234,5"``) is
    still unwrapped; a lone ``"`` stays a character of its own field and row."""
    wrapped = pl.col(pl.Utf8).str.starts_with('"') & pl.col(pl.Utf8).str.ends_with('"') & (
        pl.col(pl.Utf8).str.len_bytes() >= 2)
    return df.with_columns(
        pl.when(wrapped).then(pl.col(pl.Utf8).str.slice(1).str.head(-1)
                              .str.replace_all('""', '"', literal=True))
        .otherwise(pl.col(pl.Utf8))
    )


def _iter_reader(reader: pacsv.CSVStreamingReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return


def _kept_rows(g: np.ndarray, skipped: list[int]) -> np.ndarray:
    """1-based data-row numbers of kept rows ``g`` (0-based) given skipped row numbers."""
    if not skipped:
        return g + 1
    s = np.asarray(skipped, dtype=np.int64)
    before = s - np.arange(len(s)) - 1  # kept rows before each skipped one
    return g + 1 + np.searchsorted(before, g, side="right")


# --- front door ------------------------------------------------------------------------

def open_raw(ref: ObjectRef, settings: Settings, *, separator: str | None = None) -> RawReader:
    """The reader for ``ref``: Parquet by name or magic bytes, else CSV."""
    check_readable(ref)
    url = ref.url
    if url.lower().endswith(PARQUET_SUFFIXES):
        return ParquetReader(url, settings)
    head = read_head(url, settings, HEAD_BYTES)
    if head.startswith(b"PAR1"):
        return ParquetReader(url, settings)
    return CsvReader(url, settings, head, separator=separator)


def read_object(
    ref: ObjectRef, settings: Settings, *, separator: str | None = None
) -> Iterator[Chunk]:
    """Stream ``ref`` as Chunks of at most ``settings.chunk_rows`` rows.

    Always yields at least one chunk: a file with a header only gives one empty chunk
    with a note. A file with no header at all (0 bytes) raises ``SourceError``: its
    format cannot be known and it is most likely a broken upload, so it is dead-lettered
    where someone will see it. ``separator`` forces the CSV separator.
    """
    raw = open_raw(ref, settings, separator=separator)
    try:
        if not raw.columns:
            raise SourceError(
                "empty file: no header and no rows (an interrupted upload?)", path=ref.url
            )
        try:
            fmt = detect_format(raw.columns)
        except SchemaError as exc:
            raise SchemaError(str(exc), path=ref.url) from None
        adapter = make_adapter(fmt, ref.url)
        first_notes = list(raw.notes)
        if fmt.unknown:
            first_notes.append(f"ignored unknown column(s): {name_list(fmt.unknown)}")
        produced = False
        noted = len(raw.notes)
        for batch in raw.batches(fmt.source_columns):
            chunks = adapter.adapt(batch.frame) if batch.frame.height else [adapter.empty_chunk([])]
            if batch.rejects.height:
                c = chunks[0]
                c.rejects = pl.concat([batch.rejects, c.rejects], how="vertical")
                c.source_rows += batch.rejects.height
            del batch  # the raw rows are not held while the chunks are processed
            if not produced:
                chunks[0].notes[:0] = first_notes
            if len(raw.notes) > noted:  # said while reading (an encoding decided late)
                chunks[0].notes.extend(raw.notes[noted:])
                noted = len(raw.notes)
            produced = True
            yield from chunks
        if not produced:
            yield adapter.empty_chunk([*first_notes, "header only: no data rows"])
    finally:
        close = getattr(raw, "close", None)
        if close is not None:
            close()
