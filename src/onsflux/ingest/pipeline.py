"""The ingest front door: read → validate → encode → write → verify → record, per object.

One object (file or S3 object) is one unit of work. It is idempotent — InfluxDB
overwrites a point with the same series and timestamp — so a failed object is simply
ingested again (``onsflux dlq retry``). An object whose fingerprint has not changed since
its last successful ingest is a reported no-op.

Writes of one object go to a thread pool (httpx and polars release the GIL) with a
bounded number of batches in flight, so memory stays bounded by the chunk size.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, TypeVar

import polars as pl

from .. import catalog, metrics
from ..exceptions import ObjectBusy, OnsfluxError, QueryError, TerminalError
from ..frames import ROW, TIME, ObjectRef, empty_rejects, rfc3339
from ..influx.client import InfluxClient, WriteOutcome
from ..influx.rollup import keep_owned, keep_partials, marked, uncover
from ..query.rollup import (
    ROLLUPS,
    hour_range,
    merge_ranges,
    rollups_of,
    span_of,
    uncovered_ranges,
)
from ..quoting import quote_ident, quote_literal
from ..settings import Settings
from ..sources.objects import list_objects
from ..sources.readers import read_object
from ..state.base import FAILED, OK, ObjectRecord, StateStore
from .dropped import server_rejects, write_batch
from .encode import Packed, encode_lines
from .series import SeriesIndex, parse_series_key
from .validate import Validated, Validator

T = TypeVar("T")

log = logging.getLogger(__name__)

#: where each ingest announces, before writing raw points into a rollup's periods, which
#: periods it is writing (``Ingestor._before_write``); one point per announcement, no tags
CLAIMS = "onsflux_ingest_claims"
#: announcements older than this are not read: a writer that died without saying it
#: ended stops holding other writers' rollups back after a day
CLAIM_LOOKBACK_NS = 24 * 3_600_000_000_000

INGESTED = "ingested"
SKIPPED = "skipped"
DRY_RUN = "dry_run"
BUSY = "busy"


@dataclass
class ObjectResult:
    """What happened to one object; the JSON summary lists these."""

    key: str
    status: str  # ingested | skipped | failed | dry_run | busy
    rows: int = 0
    points: int = 0
    rejected: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    time_min: str | None = None
    time_max: str | None = None
    measurements: list[str] = field(default_factory=list)
    verified: str | None = None
    error: str | None = None
    error_kind: str | None = None
    retryable: bool = False
    notes: list[str] = field(default_factory=list)
    rejects_sample: list[dict[str, Any]] = field(default_factory=list)
    #: wall seconds per stage (read includes adapting; wait is time blocked on writes)
    phases: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Summary:
    files: int = 0
    rows: int = 0
    points: int = 0
    rejected: int = 0
    duplicates: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    objects: list[ObjectResult] = field(default_factory=list)

    @property
    def points_per_s(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else 0.0

    def add(self, result: ObjectResult) -> None:
        self.objects.append(result)
        self.files += 1
        self.rows += result.rows
        self.points += result.points
        self.rejected += result.rejected
        self.duplicates += result.duplicates
        self.skipped += result.status == SKIPPED
        self.failed += result.status == FAILED

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files, "rows": self.rows, "points": self.points,
            "rejected": self.rejected, "duplicates": self.duplicates, "skipped": self.skipped,
            "failed": self.failed, "seconds": round(self.seconds, 3),
            "points_per_s": round(self.points_per_s, 1),
            "objects": [o.as_dict() for o in self.objects],
        }


# progress callback: (event, payload) — "object_start" {key,size}, "rows" {n}, "object_done" result
Progress = Callable[[str, dict[str, Any]], None]


def _no_progress(event: str, payload: dict[str, Any]) -> None:
    return None


@contextmanager
def _timer(phases: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = round(phases.get(name, 0.0) + time.perf_counter() - started, 4)


def _timed_iter(items: Iterator[T], phases: dict[str, float], name: str) -> Iterator[T]:
    """Yield from ``items``, charging the time spent producing each one to ``name``."""
    while True:
        with _timer(phases, name):
            try:
                item = next(items)
            except StopIteration:
                return
        yield item


@dataclass(eq=False)
class _Pending:
    future: Future[WriteOutcome]
    measurement: str
    frame: pl.DataFrame  # the rows of this batch, for mapping server rejects back to rows
    packed: Packed  # the chunk's lines; this batch is ``start..stop`` of them
    start: int
    stop: int
    chunk_no: int
    settled: bool = False


@dataclass
class _Seen:
    """Points of one field written from earlier chunks: their times and series-time hashes,
    with the time range per chunk so a later chunk compares only with chunks it overlaps."""

    #: (min time, max time, keys) per chunk: a key holds its time, so only chunks whose
    #: ranges meet can share keys (8 bytes a point; fields without nulls share one Series)
    parts: list[tuple[int, int, pl.Series]] = field(default_factory=list)

    def new(self, lo: int, hi: int, keys: pl.Series, *, unique: bool = False,
            unseen: bool = False) -> pl.Series:
        """Which of these keys (series-time hashes of points with times in ``lo..hi``)
        no earlier chunk wrote, each counted once. ``unique``: the caller knows no key
        repeats; ``unseen``: it knows no earlier chunk wrote any of them."""
        if keys.len() == 0:
            return keys.is_null()
        # n_unique is several times cheaper than is_first_distinct, and keys rarely repeat
        fresh = (pl.repeat(True, keys.len(), dtype=pl.Boolean, eager=True)
                 if unique or keys.n_unique() == keys.len() else keys.is_first_distinct())
        older = [] if unseen else [k for a, b, k in self.parts if a <= hi and b >= lo]
        if older:
            fresh = fresh & ~keys.is_in(pl.concat(older).implode())
        self.parts.append((lo, hi, keys))
        return fresh


@dataclass
class _Expect:
    """Per measurement: what we wrote, to compare against what the server holds.

    The server keeps one value per series, time and field (the last written), so a point
    repeated by a later chunk is expected once, not twice.
    """

    tags: list[str]
    fields: list[str]
    counts: list[pl.DataFrame] = field(default_factory=list)  # per-series field counts
    seen: dict[str, _Seen] = field(default_factory=dict)
    tmin: int | None = None
    tmax: int | None = None
    #: rollup statistics of what was written (``query/rollup.py``), per rollup and chunk
    partials: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
    #: rollups a chunk could not compute (it lacked one of their tags)
    unrolled: set[str] = field(default_factory=set)
    #: points the server said it dropped without naming their rows (rejects with no row),
    #: per field ("*": any): verify allows that shortfall, the rejects already report it
    unnamed: dict[str, int] = field(default_factory=dict)
    #: False once a row was repeated across chunks or dropped by the server: the
    #: partials would no longer be exactly what the server keeps
    rollup_exact: bool = True
    #: whole-hour ranges ``[start, stop)`` the server was asked about *before* any point of
    #: this object was written into them (the pre-count), merged and sorted
    checked: list[tuple[int, int]] = field(default_factory=list)
    #: points the server already held in ``checked`` before this object wrote there
    prior: int = 0
    #: whole-hour ranges whose rollup markers were removed (when any) before this object
    #: wrote there, merged and sorted
    guarded: list[tuple[int, int]] = field(default_factory=list)
    #: some of those hours were marked covered: by an earlier object (a re-ingest, a
    #: neighbour), or by another writer since the pre-count, which then proves nothing
    marks_found: bool = False
    #: this object's writer identity in the claims, when it began (wall clock, before any
    #: pre-count), the periods it announced and the times of its claim points
    writer: str = field(default_factory=lambda: uuid.uuid4().hex)
    began: int = field(default_factory=time.time_ns)
    announced: list[tuple[int, int]] = field(default_factory=list)
    claims: list[int] = field(default_factory=list)
    #: the object, hashed: its earlier attempts' claims are not another writer's
    source: str = ""
    #: time range of the chunk remembered last (what the next pre-count covers)
    last_range: tuple[int, int] | None = None
    #: tag values of the first and the last row written: two of the series verify samples
    first_series: dict[str, Any] | None = None
    last_series: dict[str, Any] | None = None


class Ingestor:
    """Ingests objects into one InfluxDB, recording every outcome in the state store."""

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        client: InfluxClient | None,
        *,
        now_ns: Callable[[], int] = time.time_ns,
        progress: Progress = _no_progress,
        allow_parallel_series: bool = False,
        also: Sequence[Any] | None = None,
    ) -> None:
        """``allow_parallel_series``: write a file even when its series would sit beside
        stored series of the same quantity under other tags (see ``ingest.series``)."""
        self.settings = settings
        self.store = store
        self.client = client
        self.now_ns = now_ns
        self.progress = progress
        self.allow_parallel_series = allow_parallel_series
        self._ensured: set[str] = set()
        self._series: dict[str, SeriesIndex] = {}
        #: other stores every validated batch is also written to (the cutover's dual-write
        #: to Timestream, ``settings.also_write``); their refusals become rejects
        self.also: list[Any] = list(also) if also is not None else _also_writers(settings)

    # ------------------------------------------------------------------ front door
    def ingest(
        self, urls: Sequence[str], *, dry_run: bool = False, force: bool = False
    ) -> Summary:
        started = time.perf_counter()
        refs = list_objects(urls, self.settings)
        summary = Summary()
        self.progress("plan", {"objects": len(refs), "bytes": sum(r.size for r in refs)})
        for ref in refs:
            summary.add(self.ingest_object(ref, dry_run=dry_run, force=force))
        summary.seconds = time.perf_counter() - started
        return summary

    def ingest_object(
        self, ref: ObjectRef, *, dry_run: bool = False, force: bool = False
    ) -> ObjectResult:
        """Ingest one object; its outcome also goes to the shared metrics."""
        result = self._ingest_object(ref, dry_run=dry_run, force=force)
        _record_metrics(result, dry_run=dry_run)
        return result

    def _ingest_object(
        self, ref: ObjectRef, *, dry_run: bool = False, force: bool = False
    ) -> ObjectResult:
        self.progress("object_start", {"key": ref.key, "size": ref.size})
        if not dry_run and not force:
            previous = self.store.get(ref.key)
            if previous and previous.status == OK and previous.fingerprint == ref.fingerprint:
                result = ObjectResult(
                    key=ref.key, status=SKIPPED, rows=0, points=0, verified=previous.verified,
                    notes=[f"unchanged since last ingest ({previous.points} points, "
                           f"{previous.rejected} rejected); use --force to ingest again"],
                )
                self.progress("object_done", {"result": result})
                return result
        started = time.perf_counter()
        result = ObjectResult(key=ref.key, status=DRY_RUN if dry_run else INGESTED)
        try:
            record = None if dry_run else self.store.begin(ref.key, ref.fingerprint)
        except ObjectBusy as exc:  # another worker has it: not a failure of the object
            result.status, result.error, result.error_kind = BUSY, str(exc), exc.kind
            result.retryable = exc.retryable
            self.progress("object_done", {"result": result})
            return result
        try:
            self._run(ref, record, result, dry_run=dry_run)
        except OnsfluxError as exc:
            result.status, result.error, result.error_kind = FAILED, str(exc), exc.kind
            result.retryable = exc.retryable
            if result.points:
                result.notes.append(
                    f"{result.points} points of this object were written before the failure; "
                    "retrying rewrites them idempotently (same series and timestamps)"
                )
            if not dry_run:
                self.store.fail(ref.key, ref.fingerprint, exc.kind, str(exc))
        result.seconds = time.perf_counter() - started
        self.progress("object_done", {"result": result})
        return result

    # ------------------------------------------------------------------ one object
    def _run(
        self, ref: ObjectRef, record: ObjectRecord | None, result: ObjectResult, *, dry_run: bool
    ) -> None:
        expect: dict[str, _Expect] = {}
        try:
            self._run_object(ref, record, result, expect, dry_run=dry_run)
        finally:
            if not dry_run:
                self._end_claims(expect)

    def _run_object(
        self, ref: ObjectRef, record: ObjectRecord | None, result: ObjectResult,
        expect: dict[str, _Expect], *, dry_run: bool,
    ) -> None:
        source = hashlib.sha256(ref.key.encode()).hexdigest()[:16]  # claims name it so
        validator = Validator(
            now_ns=self.now_ns(),
            retention_seconds=self.settings.retention_seconds,
            future_tolerance_seconds=self.settings.future_tolerance_seconds,
        )
        rejects: list[pl.DataFrame] = []
        pending: list[_Pending] = []
        written_points = 0
        chunk_no = 1
        phases = result.phases

        def settle(done: Iterable[_Pending]) -> None:
            nonlocal written_points
            for p in done:
                outcome = p.future.result()  # raises the transport's error
                p.settled = True
                dropped = (server_rejects(ref.key, p.frame, p.packed.lines(p.start, p.stop),
                                          outcome)
                           if outcome.errors else None)
                if dropped is not None and dropped.height:
                    rejects.append(dropped)
                    self._uncount(expect[p.measurement], p.frame, dropped)
                written_points += outcome.written  # the server's own count of what it kept

        with ThreadPoolExecutor(max_workers=self.settings.write_workers) as pool:
            try:
                for chunk in _timed_iter(read_object(ref, self.settings), phases, "read"):
                    result.notes.extend(chunk.notes)
                    result.rows += chunk.source_rows
                    rejects.append(chunk.rejects)
                    self.progress("rows", {"n": chunk.source_rows})
                    if chunk.frame.height == 0:
                        continue  # header only, or every row rejected by the adapter
                    with _timer(phases, "validate"):
                        checked = validator.validate(chunk)
                    chunk.frame = chunk.frame.clear()  # validated: the adapted rows can go
                    rejects.append(checked.rejects)
                    result.notes.extend(n for n in checked.notes if n not in result.notes)
                    result.duplicates += checked.duplicates
                    frame = checked.frame
                    if frame.height == 0:
                        continue
                    spec = catalog.measurement(chunk.measurement)
                    with _timer(phases, "validate"):
                        # per series: what verify expects; its rows are the chunk's series
                        series = self._remember(expect, chunk.measurement, checked, frame)
                        expect[chunk.measurement].source = source
                        if not self.allow_parallel_series:
                            self._series_index(spec).check(series, checked.tags, ref.key)
                    if chunk.measurement not in result.measurements:
                        result.measurements.append(chunk.measurement)
                    with _timer(phases, "encode"):
                        lines = encode_lines(spec.name, frame, checked.tags, checked.fields,
                                             validated=True, terminated=True)
                    if dry_run:
                        written_points += lines.len()
                        continue
                    with _timer(phases, "encode"):
                        packed = Packed(lines)
                        del lines
                    self._ensure_bucket(spec.bucket)
                    with _timer(phases, "precount"):
                        self._precount(expect[chunk.measurement], spec)
                        self._before_write(expect[chunk.measurement], spec)
                    for sink in self.also:  # dual-write (cutover): blue stays current
                        with _timer(phases, f"also_{sink.name}"):
                            rejects.append(sink.write(ref.key, spec.name, frame, checked.tags,
                                                      list(checked.fields)))
                    # Pipelining with bounded memory: while this chunk's batches are
                    # written, the next chunk is read, validated and encoded; before its
                    # batches are queued, everything older than this chunk must be done.
                    # Rows that replace earlier ones (cross-chunk duplicates) wait for
                    # all earlier writes, so the last row wins on the server too.
                    oldest_kept = chunk_no if checked.cross_chunk_duplicates else chunk_no - 1
                    with _timer(phases, "wait"):
                        settle([p for p in pending if p.chunk_no < oldest_kept])
                    pending = [p for p in pending if not p.settled]
                    # each body is a slice of the chunk's packed lines: nothing copied
                    for start, stop in packed.cuts(self.settings.batch_lines,
                                                   self.settings.batch_bytes):
                        assert self.client is not None
                        future = pool.submit(write_batch, self.client, spec.bucket,
                                             packed.body(start, stop), stop - start)
                        pending.append(_Pending(
                            future, spec.name, frame.slice(start, stop - start), packed,
                            start, stop, chunk_no,
                        ))
                    chunk_no += 1
                    settle([p for p in pending if p.future.done()])
                    pending = [p for p in pending if not p.settled]
                with _timer(phases, "wait"):
                    settle(pending)
                pending = []
            except BaseException:
                for p in pending:
                    p.future.cancel()
                result.points = written_points
                raise

        all_rejects = pl.concat(rejects) if rejects else empty_rejects()
        result.rejected = all_rejects.height
        result.points = written_points
        result.rejects_sample = all_rejects.head(5).to_dicts()
        tmins = [e.tmin for e in expect.values() if e.tmin is not None]
        tmaxs = [e.tmax for e in expect.values() if e.tmax is not None]
        tmin, tmax = (min(tmins), max(tmaxs)) if tmins else (None, None)
        result.time_min = None if tmin is None else rfc3339(tmin, seconds=True)
        result.time_max = None if tmax is None else rfc3339(tmax, seconds=True)
        if dry_run:
            return
        assert record is not None
        with _timer(phases, "verify"):
            result.verified, verify_notes = self._verify(expect)
        result.notes.extend(verify_notes)
        record.status = OK
        record.rows, record.points = result.rows, result.points
        record.rejected, record.duplicates = result.rejected, result.duplicates
        record.time_min_ns, record.time_max_ns = tmin, tmax
        record.measurements = result.measurements
        record.verified = result.verified
        self.store.add_rejects(ref.key, all_rejects)
        self.store.finish(record)

    # ------------------------------------------------------------------ helpers
    def _series_index(self, spec: catalog.MeasurementSpec) -> SeriesIndex:
        """The measurement's stored series (read once per run), then what this run wrote."""
        index = self._series.get(spec.name)
        if index is None:
            stored: list[dict[str, str]] = []
            if self.client is not None:
                try:
                    rows = self.client.query_points(
                        f"SHOW SERIES FROM {quote_ident(spec.name)}", db=spec.bucket)
                except QueryError as exc:
                    if not exc.database_missing:
                        raise
                    rows = []
                stored = [parse_series_key(str(r.get("key", "")))[1] for r in rows]
            index = self._series[spec.name] = SeriesIndex(spec.name, stored)
        return index

    def _ensure_bucket(self, bucket: str) -> None:
        if bucket not in self._ensured:
            assert self.client is not None
            self.client.ensure_database(bucket, self.settings.retention)
            self._ensured.add(bucket)

    @staticmethod
    def _remember(expect: dict[str, _Expect], measurement: str, checked: Validated,
                  frame: pl.DataFrame) -> pl.DataFrame:
        """Record what verify and the rollup expect of this chunk; return its per-series
        counts of new points (one row per series of the chunk)."""
        tags, fields = checked.tags, list(checked.fields)
        e = expect.setdefault(measurement, _Expect(tags=list(tags), fields=[]))
        e.fields.extend(f for f in fields if f not in e.fields)
        e.tags.extend(t for t in tags if t not in e.tags)
        series_time = checked.series_time
        assert series_time is not None and series_time.len() == frame.height
        # the validator already knows: no series-time twice in the chunk (every row has
        # the same fields) and none written by an earlier chunk — then every point is new
        unique, unseen = checked.unique_series_time, checked.cross_chunk_duplicates == 0
        lo, hi = frame[TIME].min(), frame[TIME].max()
        fresh: dict[str, pl.Series] = {}
        for f in fields:
            seen = e.seen.setdefault(f, _Seen())
            if frame[f].null_count() == 0:  # the common case: no filtering, no scatter
                fresh[f] = seen.new(lo, hi, series_time, unique=unique, unseen=unseen)  # type: ignore[arg-type]
                continue
            has = frame[f].is_not_null()
            times = frame[TIME].filter(has)
            new = seen.new(times.min(), times.max(), series_time.filter(has),  # type: ignore[arg-type]
                           unique=unique, unseen=unseen)
            mask = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True).alias("")
            fresh[f] = mask.scatter(has.arg_true(), new) if frame.height else mask
        if all(v.all() for v in fresh.values()):  # every point new: count non-null values
            counts = frame.group_by(tags).agg(
                [pl.col(f).count().cast(pl.Int64) for f in fields])
        else:
            counts = frame.with_columns(
                [fresh[f].alias(f"__new_{f}") for f in fields]
            ).group_by(tags).agg(
                [pl.col(f"__new_{f}").sum().cast(pl.Int64).alias(f) for f in fields]
            )
        e.counts.append(counts)
        chain = rollups_of(measurement)
        if chain and e.rollup_exact and not all(bool(fresh[f].all()) for f in fields):
            e.rollup_exact = False  # a repeat: the server kept the later value
        for rollup in chain if e.rollup_exact else ():
            part = rollup.partials(frame, fields)
            if part is None:
                e.unrolled.add(rollup.name)
            else:
                e.partials.setdefault(rollup.name, []).append(part)
        e.tmin = lo if e.tmin is None else min(e.tmin, lo)  # type: ignore[type-var, assignment]
        e.tmax = hi if e.tmax is None else max(e.tmax, hi)  # type: ignore[type-var, assignment]
        e.last_range = (int(lo), int(hi))  # type: ignore[arg-type]
        if frame.height:
            present = [t for t in e.tags if t in frame.columns]
            if e.first_series is None:
                e.first_series = frame.select(present).row(0, named=True)
            e.last_series = frame.select(present).row(-1, named=True)
        return counts

    @staticmethod
    def _uncount(e: _Expect, batch: pl.DataFrame, dropped: pl.DataFrame) -> None:
        """Remove rows the server dropped from what verify expects to find; count those
        it dropped without saying which (``server_rejects``' rows of unknown number)."""
        unknown = dropped.filter(pl.col("row").is_null())
        if unknown.height:
            e.rollup_exact = False  # the partials hold points the server does not
            for column, n in unknown.group_by("column").len().iter_rows():
                e.unnamed[column or "*"] = e.unnamed.get(column or "*", 0) + int(n)
        rows = dropped["row"].drop_nulls()
        gone = batch.filter(pl.col(ROW).is_in(rows.implode()))
        if gone.height:
            e.rollup_exact = False
            tags = [t for t in e.tags if t in gone.columns]
            fields = [f for f in e.fields if f in gone.columns]
            neg = gone.group_by(tags).agg(
                [(-pl.col(f).is_not_null().sum().cast(pl.Int64)).alias(f) for f in fields]
            )
            e.counts.append(neg)

    def _precount(self, e: _Expect, spec: catalog.MeasurementSpec) -> None:
        """Before a chunk's points are written: count what the server already holds in the
        chunk's whole UTC days (the coarsest rollup's periods, ``span_of``) that no earlier
        chunk of this object asked about.

        Nearly free on new data (an empty time range has no blocks to read). Zero in every
        such range proves the object's hours hold only its own points once it is written,
        so its rollup rows can be kept without the post-write count, a scan of every point
        written. Anything found (a re-ingest, a neighbour sharing hours) stops the counting;
        the post-write count then decides, as before. Only asked where it is used: a
        measurement with a rollup, rollups on, and ``verify=sample``.
        """
        if (e.last_range is None or e.prior or self.settings.verify != "sample"
                or not self.settings.rollups or spec.name not in ROLLUPS):
            return
        assert self.client is not None
        start, stop = span_of(spec.name, *e.last_range)
        for a, b in uncovered_ranges(e.checked, start, stop):
            e.prior += count_all(self.client, spec.bucket, spec.name, a, b)
            e.checked = merge_ranges([*e.checked, (a, b)])
            if e.prior:
                return

    def _before_write(self, e: _Expect, spec: catalog.MeasurementSpec) -> None:
        """Before a chunk's points are written: announce the rollup periods it writes into
        that no earlier chunk of this object announced (``CLAIMS``), then remove the
        rollup markers of its whole hours that no earlier chunk cleared.

        Why the announcement: an object's proof that its periods hold only its points (the
        pre-count, or the count after writing) says nothing of another ingest writing
        there at the same time, which may find this object's points and keep nothing,
        leaving no marker behind. Each object checks the announcements before it keeps
        its rollup rows (``_others_claimed``).

        Why the markers go first: a marked hour is answered from its rollup rows, which
        stand for the raw points as they were. Left marked until the object succeeds, a
        re-ingest with corrected values that fails halfway (server gone, Ctrl-C, a Lambda
        timeout) would leave hours whose raw points changed answered from the old rollup
        for good. Done whatever ``ONSFLUX_ROLLUPS`` says here (another process may answer
        from rollups); one small write and one small query on the markers per chunk, and a
        delete only when some are marked.
        """
        if spec.name not in ROLLUPS or e.last_range is None:
            return
        assert self.client is not None
        if self.client.kind == "2.x":
            return  # no hour is ever marked there (``influx/rollup.py``)
        lines = []
        # a time of its own per announcement (one series, no tags): microseconds, and
        # random nanoseconds against another writer's in the same microsecond
        base = time.time_ns() // 1000 * 1000 + random.randrange(1000)
        new = uncovered_ranges(e.announced, *span_of(spec.name, *e.last_range))
        for i, (a, b) in enumerate(new):
            t = base + 1000 * i
            e.claims.append(t)
            e.announced = merge_ranges([*e.announced, (a, b)])
            lines.append(f'{CLAIMS} writer="{e.writer}",source="{e.source}",'
                         f'start_ns={a}i,stop_ns={b}i {t}\n')
        if lines:
            self.client.write(spec.bucket, "".join(lines).encode(), lines=len(lines))
        start, stop = hour_range(*e.last_range)
        for a, b in uncovered_ranges(e.guarded, start, stop):
            if marked(self.client, spec.name, a, b):  # any rollup (the daily: whole days)
                uncover(self.client, spec.name, a, b)
                e.marks_found = True
            e.guarded = merge_ranges([*e.guarded, (a, b)])

    def _keep_rollup(self, name: str, e: _Expect, want: dict[str, int]) -> dict[str, int] | None:
        """Write the object's rollup rows (``rollups_of``) where they are exactly what the
        server keeps, else mark those periods uncovered (queries on them read raw).

        Exact when every point the server holds in the object's whole hours is the
        object's own, as written (no repeats across chunks, nothing dropped). Proven by the
        pre-count (nothing there before the object wrote: ``_precount``) when it ran, else by
        one count over the hours after writing (``verify=count``, or something was there
        before): equal to what the object wrote means the hours hold nothing else (either
        proof only if no other ingest wrote there meanwhile: ``_others_claimed``); then
        the daily rollup is kept for the days whose own count equals the object's
        (``keep_owned``: a neighbour sharing a UTC day costs that day only).
        Returns the post-write per-field totals over the whole hours when they were read
        (verify then needs no other scan), else None.
        """
        rollup = ROLLUPS.get(name)  # the hourly one: its hours' count doubles as verify's
        if rollup is None or not self.settings.rollups or e.tmin is None or e.tmax is None:
            return None
        assert self.client is not None
        start, stop = hour_range(e.tmin, e.tmax)
        bucket = catalog.measurement(name).bucket
        held: dict[str, int] | None = None
        if self._precounted(e, *span_of(name, e.tmin, e.tmax)):
            # another writer finishing in the same periods meanwhile would have marked them
            exclusive = everywhere = marked(self.client, name, e.tmin, e.tmax + 1) == 0
        else:
            held = count_totals(self.client, bucket, name, e.fields, start, stop - 1)
            exclusive, everywhere = held == want, False
        claimed = self._others_claimed(e, bucket, *span_of(name, e.tmin, e.tmax))
        if claimed:  # another ingest wrote there meanwhile: neither count proves a thing
            exclusive = everywhere = False
        kept = False
        jobs: list[Callable[[], object]] = []
        for r in rollups_of(name):
            parts = e.partials.get(r.name)
            r_start, r_stop = r.span(e.tmin, e.tmax)
            if not (e.rollup_exact and parts and r.name not in e.unrolled):
                jobs.append(partial(uncover, self.client, name, r_start, r_stop, rollups=[r]))
            elif everywhere or (exclusive and r.period_ns == rollup.period_ns):
                jobs.append(partial(keep_partials, self.client, r,
                                    pl.concat(parts, how="diagonal_relaxed"), r_start, r_stop))
                kept = True
            elif held is not None and not claimed and r.period_ns != rollup.period_ns:
                # the daily one after a post-write count: per day, those the object owns
                jobs.append(partial(keep_owned, self.client, r,
                                    pl.concat(parts, how="diagonal_relaxed")))
                kept = True
            else:
                jobs.append(partial(uncover, self.client, name, r_start, r_stop, rollups=[r]))
        # each rollup has its own rows and markers: they are written side by side
        with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
            for done in [pool.submit(job) for job in jobs]:
                done.result()
        if kept and self._others_claimed(e, bucket, *span_of(name, e.tmin, e.tmax)):
            # one who announced these periods while the rows were written may have checked
            # the markers before ours were there: undo ours
            uncover(self.client, name, *span_of(name, e.tmin, e.tmax))
        return held

    def _others_claimed(self, e: _Expect, bucket: str, start: int, stop: int) -> bool:
        """Did another writer announce any time of ``[start, stop)`` without having ended
        before this object began? Its points may then be there, unseen by the counts that
        proved the periods this object's own. An earlier attempt at this same object is
        not one: the state store let this one begin, so that one is over (it may have died
        unable to say so, with the server it lost)."""
        assert self.client is not None
        q = (f"SELECT writer, source, ended FROM {quote_ident(CLAIMS)} "
             f"WHERE time >= {e.began - CLAIM_LOOKBACK_NS} "
             f"AND start_ns < {int(stop)} AND stop_ns > {int(start)}")
        rows = self.client.query_points(q, db=bucket)
        return any(r.get("writer") != e.writer and r.get("source") != e.source
                   and (r.get("ended") is None or int(r["ended"]) >= e.began) for r in rows)

    def _end_claims(self, expect: dict[str, _Expect]) -> None:
        """Say this object's announcements ended (it succeeded or failed: either way it
        writes no more). Best effort: unended, they hold other writers back for a day."""
        if self.client is None:
            return
        now = time.time_ns()
        for name, e in expect.items():
            if not e.claims:
                continue
            body = "".join(f"{CLAIMS} ended={now}i {t}\n" for t in e.claims).encode()
            try:
                self.client.write(catalog.measurement(name).bucket, body, lines=len(e.claims))
            except OnsfluxError as exc:
                log.warning("ingest claims not ended (%s): other ingests sharing these periods "
                            "keep no rollup for a day", exc)

    @staticmethod
    def _precounted(e: _Expect, start: int, stop: int) -> bool:
        """Did the pre-count cover all of ``[start, stop)`` and find it empty, with no
        hour there marked covered when the object was about to write?"""
        return (e.prior == 0 and not e.marks_found
                and not uncovered_ranges(e.checked, start, stop))

    def _verify(self, expect: dict[str, _Expect]) -> tuple[str, list[str]]:
        """Read back what the server holds for this object and compare with what was written.

        ``verify=sample`` (default): every batch was acknowledged (204, or a partial write
        whose dropped rows became rejects) and the exact per-field counts of a few series —
        those of the first and last rows and the largest one — are read back, one small
        query on the series index. It catches a wrong database, precision or tag spelling,
        and a lost batch of a time-ordered file (every batch then holds every series), but
        not a lost batch of one series outside the sample.
        ``verify=count``: per-field totals over the object's time range (one scan of every
        point written, no grouping). Either way, only when the read-back falls short are
        per-series counts fetched (``GROUP BY *``) to say which series lost points.
        """
        assert self.client is not None
        notes: list[str] = []
        sampled = 0
        for name, e in expect.items():
            if not e.counts or e.tmin is None or e.tmax is None:
                continue
            spec = catalog.measurement(name)
            wrote = pl.concat(e.counts, how="diagonal_relaxed").group_by(e.tags).agg(
                [pl.col(f).sum() for f in e.fields]
            )
            want = {f: int(wrote[f].sum()) for f in e.fields}
            held = self._keep_rollup(name, e, want)
            if self.settings.verify == "sample" and held is None:
                picks = _sample_series(e, wrote)
                sampled += picks.height
                found = count_by_series(self.client, spec.bucket, name, e.tags, e.fields,
                                        e.tmin, e.tmax, series=picks.select(e.tags))
                self._judge(name, e, picks, found)
                continue
            have = held if held is not None else count_totals(
                self.client, spec.bucket, name, e.fields, e.tmin, e.tmax)
            if have == want:
                continue
            found = count_by_series(self.client, spec.bucket, name, e.tags, e.fields,
                                    e.tmin, e.tmax)
            self._judge(name, e, wrote, found)
            extra = sum(have.values()) - sum(want.values())
            if extra > 0:
                notes.append(f"verify: {extra} more {name} points in the object's time range than "
                             "it wrote (other objects cover the same range); none missing")
        if sampled:
            return f"ok (acknowledged; {sampled} series read back)", notes
        return "ok", notes

    @staticmethod
    def _judge(name: str, e: _Expect, wrote: pl.DataFrame, found: pl.DataFrame) -> None:
        """Raise ``TerminalError`` naming the fields and series that hold fewer points on
        the server than were written (``wrote``: per series and field), beyond the points
        the server said it dropped without naming them (already rejects)."""
        joined = wrote.join(found, on=e.tags, how="left", suffix="__found", nulls_equal=True)
        short = []
        for f in e.fields:
            got = pl.col(f"{f}__found").fill_null(0)
            missing = joined.filter(got < pl.col(f))
            if missing.height:
                lost = int((missing[f] - missing[f"{f}__found"].fill_null(0)).sum())
                if lost <= e.unnamed.get(f, 0) + e.unnamed.get("*", 0):
                    continue
                short.append(f"{name}.{f}: {lost} points missing in {missing.height} series")
        if short:
            metrics.inc("onsflux_ingest_verify_mismatches_total")
            raise TerminalError("verify failed: " + "; ".join(short))


def _sample_series(e: _Expect, wrote: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``wrote`` (per series and field) verify reads back in sample mode: the
    series of the first and last rows written and the one with the most points."""
    rows = [s for s in (e.first_series, e.last_series) if s is not None]
    total = pl.sum_horizontal([pl.col(f) for f in e.fields])
    biggest = wrote.sort(total, descending=True, maintain_order=True).head(1)
    if rows:
        named = pl.DataFrame(rows, schema={t: pl.Utf8 for t in rows[0]})
        picked = wrote.join(named.unique(), on=list(named.columns), how="semi",
                            nulls_equal=True)
        biggest = pl.concat([picked, biggest], how="vertical_relaxed")
    return biggest.unique(subset=e.tags, maintain_order=True)


def _record_metrics(result: ObjectResult, *, dry_run: bool) -> None:
    """Counters for one object: outcome, points written, rejects, dead letters, time."""
    metrics.inc("onsflux_ingest_objects_total", status=result.status)
    if dry_run or result.status in (SKIPPED, BUSY):
        return
    metrics.inc("onsflux_ingest_points_written_total", result.points)
    metrics.inc("onsflux_ingest_rejects_total", result.rejected)
    metrics.observe("onsflux_ingest_object_seconds", result.seconds)
    if result.status == FAILED:
        metrics.inc("onsflux_ingest_dead_letters_total")


def count_totals(
    client: InfluxClient, bucket: str, measurement: str, fields: Sequence[str],
    tmin: int, tmax: int,
) -> dict[str, int]:
    """Points per field held by the server in ``[tmin, tmax]``, all series together."""
    selects = ", ".join(f"count({quote_ident(f)}) AS {quote_ident(f)}" for f in fields)
    q = (f"SELECT {selects} FROM {quote_ident(measurement)} "
         f"WHERE time >= {int(tmin)} AND time <= {int(tmax)}")
    rows = client.query_points(q, db=bucket)
    return {f: int((rows[0].get(f) if rows else 0) or 0) for f in fields}


def count_all(client: InfluxClient, bucket: str, measurement: str, start: int,
              stop: int) -> int:
    """Field values of every series and field held in ``[start, stop)``: cheap on an empty
    range (no block to read), a scan otherwise."""
    try:
        rows = client.query_points(f"SELECT count(*) FROM {quote_ident(measurement)} "
                                   f"WHERE time >= {int(start)} AND time < {int(stop)}",
                                   db=bucket)
    except QueryError as exc:
        if not exc.database_missing:
            raise
        return 0
    return sum(int(v or 0) for r in rows for k, v in r.items() if k.startswith("count_"))


def count_by_series(
    client: InfluxClient, bucket: str, measurement: str, tags: Sequence[str],
    fields: Sequence[str], tmin: int, tmax: int, *, series: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Points per series and field held by the server in ``[tmin, tmax]``; only of the
    ``series`` given (a frame of tag values, null = tag absent) when given.

    Columns: ``tags`` (null where a series lacks the tag) and ``<field>__found``.
    """
    where = ""
    if series is not None:
        # one condition per series on the series index: reads those series only
        where = " AND (" + " OR ".join(
            "(" + " AND ".join(f"{quote_ident(t)} = {quote_literal(v or '')}"
                               for t, v in row.items()) + ")"
            for row in series.iter_rows(named=True)) + ")"
    q = (f"SELECT count(*) FROM {quote_ident(measurement)} "
         f"WHERE time >= {int(tmin)} AND time <= {int(tmax)}{where} GROUP BY *")
    rows = client.query_points(q, db=bucket)
    schema: dict[str, Any] = {t: pl.Utf8 for t in tags}
    schema.update({f"{f}__found": pl.Int64 for f in fields})
    data = [
        {**{t: (r.get(t) or None) for t in tags},
         **{f"{f}__found": int(r.get(f"count_{f}") or 0) for f in fields}}
        for r in rows
    ]
    frame = pl.DataFrame(data, schema=schema)
    return frame.group_by(list(tags)).agg(pl.col(f"{f}__found").sum() for f in fields)


def _also_writers(settings: Settings) -> list[Any]:
    if settings.also_write == "timestream":
        from ..cutover.dualwrite import TimestreamWriter

        return [TimestreamWriter(settings, database=settings.timestream_database)]
    return []


def dead_letter_keys(store: StateStore) -> list[str]:
    return [d.key for d in store.dead_letters()]


def retry_dead_letters(ingestor: Ingestor, keys: Sequence[str] | None = None) -> Summary:
    """Ingest the dead-lettered objects again (all, or ``keys``); success resolves them."""
    wanted = list(keys) if keys else dead_letter_keys(ingestor.store)
    summary = Summary()
    started = time.perf_counter()
    for key in wanted:  # one at a time: a deleted object fails alone, the rest are retried
        try:
            refs = list_objects([key], ingestor.settings)
        except OnsfluxError as exc:
            result = ObjectResult(key=key, status=FAILED, error=str(exc), error_kind=exc.kind,
                                  retryable=exc.retryable,
                                  notes=["still a dead letter: it could not be listed again"])
            previous = ingestor.store.get(key)
            ingestor.store.fail(key, previous.fingerprint if previous else "", exc.kind,
                                str(exc))
            summary.add(result)
            continue
        for ref in refs:
            summary.add(ingestor.ingest_object(ref, force=True))
    summary.seconds = time.perf_counter() - started
    return summary
