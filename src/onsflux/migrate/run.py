"""Run partitions: read the window from the source, map, encode, write, record.

One partition = read its rows (UNLOAD files overlapping the window, or one Timestream
query) → :func:`~onsflux.migrate.mapping.map_frame` → ``encode_lines`` → ``batches``
→ ``InfluxClient.write`` on ``settings.write_workers`` threads. Idempotent: a point is
identified by measurement + tag set + timestamp, so writing a partition again overwrites
the same points with the same values — a run killed at any moment (SIGKILL included)
and started again ends with exactly the source's points, none twice.

Failure policy: transient errors are retried inside the client (5xx/429/timeouts); a
write the server refuses (400 parse error, 401/404…) is never retried: the partition is
marked ``failed`` with the message and the run goes on with the others; the run's
summary then says ``failed > 0`` (the CLI exits non-zero). Points the server dropped
(partial write: retention, type conflict) and rows the mapping refused are *rejects*:
counted on the partition, each with its reason in the state store's ``rejects`` table
(key ``migrate:<partition id>``).

``run(…, workers=N)``: N > 1 starts a spawn-context process pool; each worker claims
its partition in the state store (so a second ``run`` on another terminal, or a Lambda,
never runs the same partition at the same time) and records its own result. Partitions
left ``running`` by a dead worker are reclaimed at the start of the next run.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .. import metrics
from ..catalog import FieldType
from ..exceptions import OnsfluxError
from ..influx.client import InfluxClient, WriteOutcome
from ..influx.rollup import uncover
from ..ingest.dropped import server_rejects, write_batch
from ..ingest.encode import batches, encode_lines
from ..settings import Settings
from .aggregates import SourceAggregator, dumps
from .dedupe import Duplicates, SeenKeys, collapse
from .mapping import Mapping, map_frame
from .plan import Migration
from .state import DONE, FAILED, RUNNING, Partition, owner_id

Progress = Callable[[str, dict[str, Any]], None]


def _noop(event: str, payload: dict[str, Any]) -> None:
    return None


#: the counts of a partition or a run, in the order they explain each other
COUNTS = ("source_rows", "null_measures", "rejected", "duplicates", "points", "superseded",
          "field_values")


@dataclass
class RunSummary:
    migration: str
    partitions: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def total(self, name: str) -> int:
        return int(sum(p.get(name) or 0 for p in self.partitions))

    @property
    def points(self) -> int:
        return self.total("points")

    @property
    def rejected(self) -> int:
        return self.total("rejected")

    @property
    def failed(self) -> int:
        return int(sum(p["status"] == FAILED for p in self.partitions)) + len(self.errors)

    def explain(self) -> str:
        """Rows read → points written → field values, each difference named."""
        return explain_counts({k: self.total(k) for k in COUNTS})

    def as_dict(self) -> dict[str, Any]:
        return {"migration": self.migration, "dry_run": self.dry_run,
                "partitions": self.partitions, **{k: self.total(k) for k in COUNTS},
                "explain": self.explain(), "failed": self.failed, "errors": self.errors,
                "warnings": self.warnings, "seconds": round(self.seconds, 3),
                "points_per_s": round(self.points / self.seconds) if self.seconds else None}


def explain_counts(c: dict[str, int]) -> str:
    """``rows read`` = ``points written`` + rows skipped for a reason; field values are
    counted per point (a point carries one value per field)."""
    parts = []
    if c.get("null_measures"):
        parts.append(f"{c['null_measures']:,} without any measure value (skipped)")
    if c.get("rejected"):
        parts.append(f"{c['rejected']:,} rejected (see `onsflux rejects`)")
    if c.get("duplicates"):
        parts.append(f"{c['duplicates']:,} on a point another row also has (merged; the "
                     "last row in export order wins each field"
                     + (f", {c['superseded']:,} values superseded" if c.get("superseded")
                        else "") + ")")
    text = f"{c.get('source_rows', 0):,} rows read → {c.get('points', 0):,} points written"
    if parts:
        text += " (" + "; ".join(parts) + ")"
    return text + (f"; {c.get('field_values', 0):,} field values (each point carries one "
                   "value per field it has)")


def _result(p: Partition, seconds: float) -> dict[str, Any]:
    return {"id": p.id, "status": p.status, **{k: getattr(p, k) for k in COUNTS},
            "duplicate_examples": p.duplicate_examples, "error": p.error,
            "retryable": p.retryable,
            "seconds": round(seconds, 3)}


@dataclass(eq=False)
class _InFlight:
    """The write batches of one chunk, settled together and in chunk order."""

    chunk_no: int
    #: one per segment of ``batch_lines`` lines: its writes, its rows and its lines
    segments: list[tuple[Future[list[tuple[int, int, WriteOutcome]]], pl.DataFrame, pl.Series]]
    points: int
    label: str
    tmin: int
    tmax: int


def _write_segment(client: InfluxClient, bucket: str, lines: pl.Series, max_lines: int,
                   max_bytes: int) -> list[tuple[int, int, WriteOutcome]]:
    """Write ``lines`` (at most ``max_lines`` of them) in bodies of at most ``max_bytes``;
    runs on a writer thread, so the bodies are also built there (polars releases the GIL).
    Returns each body's ``[start, stop)`` within the segment and its outcome."""
    return [(start, stop, write_batch(client, bucket, body, stop - start))
            for start, stop, body in batches(lines, max_lines, max_bytes)]


def _lines_checksum(lines: pl.Series) -> int:
    """Σ hash(line) mod 2^64: the two 32-bit halves summed apart (no overflow below 2^32
    lines), the same value as an exact sum."""
    h = lines.hash(seed=0).cast(pl.UInt64)
    hi = int((h // (1 << 32)).sum())
    lo = int((h & 0xFFFFFFFF).sum())
    return ((hi << 32) + lo) % (1 << 64)


def series_json(frame: pl.DataFrame, tags: list[str]) -> set[str]:
    """The distinct series of a mapped frame as JSON ``[[tag, value], …]`` (sorted by
    tag, NULL tags left out): what the state store records for rollback."""
    if not tags:
        return {"[]"}
    out = set()
    for row in frame.select(sorted(tags)).unique().iter_rows():
        out.add(json.dumps([[t, v] for t, v in zip(sorted(tags), row, strict=True)
                            if v is not None], ensure_ascii=False))
    return out


def partition_frames(mig: Migration, p: Partition
                     ) -> tuple[pl.DataFrame | None, list[str], dict[str, FieldType], int,
                                Duplicates]:
    """Every row ``run`` writes for ``p``, read again from the source, mapped and
    collapsed across the whole partition (see :mod:`.dedupe`): (frame or None, tags,
    field types, rows rejected, duplicates). Holds the partition in memory (``plan``
    sizes partitions to ``target_rows``)."""
    tm = mig.mapping.table(p.table_name)
    frames: list[pl.DataFrame] = []
    tags: list[str] = []
    types: dict[str, FieldType] = {}
    rejected = 0
    labels: list[str] = []
    for i, chunk in enumerate(mig.source.chunks(p.table_name, p.start_ns, p.stop_ns, p.files)):
        mapped = map_frame(tm, chunk.frame, chunk.types, source=chunk.label,
                           time_column=mig.mapping.time_column)
        rejected += mapped.rejects.height
        if not mapped.points:
            continue
        tags += [t for t in mapped.tags if t not in tags]
        types.update(mapped.fields)
        labels.append(chunk.label)
        frames.append(mapped.frame.with_columns(pl.lit(i, dtype=pl.UInt32).alias(_CHUNK)))
    if not frames:
        return None, tags, types, rejected, Duplicates()
    whole = pl.concat(frames, how="diagonal_relaxed").with_columns(
        [pl.col(t).cast(pl.Utf8) for t in tags])
    merged, dups = collapse(whole, tags, list(types), "", chunk_col=_CHUNK, labels=labels)
    return merged.drop(_CHUNK), tags, types, rejected, dups


_CHUNK = "_chunk"


def partition_aggregates(mig: Migration, p: Partition) -> tuple[SourceAggregator, Duplicates]:
    """The verify statistics of what ``run`` writes for ``p`` (read again; see
    :func:`partition_frames`) and the partition's duplicates."""
    frame, tags, types, rejected, dups = partition_frames(mig, p)
    stats = SourceAggregator()
    stats.rejected = rejected
    if frame is not None:
        stats.add(frame, tags, types)
    return stats, dups


def run_partition(
    mig: Migration, client: InfluxClient | None, p: Partition, *, dry_run: bool = False,
    rejects_store: Any | None = None, stats: SourceAggregator | None = None,
) -> Partition:
    """Migrate one partition (already claimed unless ``dry_run``) and return its outcome.

    Never raises for the partition's own errors: they go into ``p.error`` with status
    ``failed`` — :class:`OnsfluxError` with its kind (``p.retryable`` says whether a retry
    may succeed), any other exception wrapped once with the stage it failed in (read,
    map, encode, record, write).

    Pipelined: while the writer threads send chunk *n*, chunk *n + 1* is read, mapped and
    encoded; chunk *n + 2* waits until chunk *n* is settled, so at most two chunks are in
    memory. ``stats`` (optional) receives every mapped frame: the verify statistics of
    what this partition wrote, computed while the writers work.

    Duplicates (rows on one point, see :mod:`.dedupe`) are collapsed in each chunk
    before writing, so each point is written once with the values of the last row in
    export order; a chunk with points an earlier chunk wrote waits until the earlier
    writes are settled (the later row wins), and then the partition's duplicates and
    ``stats`` are computed again over the whole partition.

    Before a chunk is written, the series it writes are recorded in the state store, so
    a rollback after a killed run deletes those series only.
    """
    settings = mig.settings
    tm = mig.mapping.table(p.table_name)
    src = mig.source
    checksum = 0
    p.source_rows = p.points = p.field_values = p.rejected = p.null_measures = 0
    p.duplicates = p.superseded = 0
    p.duplicate_examples = []
    p.written_min_ns = p.written_max_ns = None
    p.error = None
    reject_key = f"migrate:{p.id}"
    if rejects_store is not None and not dry_run:
        rejects_store.clear_rejects(reject_key)
    inflight: deque[_InFlight] = deque()
    dups = Duplicates()
    seen = SeenKeys()
    overlap = False  # a chunk had points an earlier chunk wrote
    rewritten = 0  # its rows: written again onto those points
    recorded = set(mig.store.series(p.migration, p.id)) if not dry_run else set()
    stage = "read"

    def settle(item: _InFlight) -> None:
        dropped = 0
        for fut, rows, lines in item.segments:
            for start, stop, outcome in fut.result():
                if not outcome.errors:
                    continue
                dropped += outcome.lines - outcome.written
                if rejects_store is not None:
                    rejects_store.add_rejects(reject_key, server_rejects(
                        item.label, rows.slice(start, stop - start),
                        lines.slice(start, stop - start), outcome))
        p.points += item.points - dropped
        p.rejected += dropped
        p.written_min_ns = item.tmin if p.written_min_ns is None else min(p.written_min_ns,
                                                                          item.tmin)
        p.written_max_ns = item.tmax if p.written_max_ns is None else max(p.written_max_ns,
                                                                          item.tmax)
        mig.store.progress(p.migration, p.id, p.points)

    step = settings.batch_lines
    try:
        if client is not None and not dry_run:  # the rollup cannot follow migrated points
            stage = "uncover rollup"
            uncover(client, p.measurement, p.start_ns, p.stop_ns, bucket=p.bucket)
        with ThreadPoolExecutor(max_workers=settings.write_workers) as pool:
            try:
                chunks = src.chunks(p.table_name, p.start_ns, p.stop_ns, p.files)
                for chunk_no in itertools.count():
                    stage = "read"
                    chunk = next(chunks, None)
                    if chunk is None:
                        break
                    stage = "map"
                    mapped = map_frame(tm, chunk.frame, chunk.types, source=chunk.label,
                                       time_column=mig.mapping.time_column)
                    p.source_rows += mapped.rows
                    p.null_measures += mapped.null_measures
                    if mapped.rejects.height:
                        p.rejected += mapped.rejects.height
                        if stats is not None:
                            stats.rejected += mapped.rejects.height
                        if rejects_store is not None and not dry_run:
                            rejects_store.add_rejects(reject_key, mapped.rejects)
                    if mapped.points == 0:
                        continue
                    frame, found = collapse(mapped.frame, mapped.tags, list(mapped.fields),
                                            chunk.label)
                    dups.merge(found)
                    again = seen.check_and_add(frame, mapped.tags)
                    n_again = int(again.sum())
                    if n_again:
                        overlap = True
                        dups.rows += n_again
                        rewritten += n_again
                    stage = "encode"
                    lines = encode_lines(tm.measurement, frame, mapped.tags, mapped.fields)
                    if dry_run or client is None:
                        p.points += frame.height
                    else:
                        stage = "record"
                        new = series_json(frame, mapped.tags) - recorded
                        if new:
                            mig.store.add_series(p.migration, p.id, sorted(new))
                            recorded |= new
                        stage = "write"
                        while inflight and (n_again or inflight[0].chunk_no < chunk_no - 1):
                            settle(inflight.popleft())
                        segments = [(pool.submit(_write_segment, client, p.bucket,
                                                 lines.slice(a, step), step,
                                                 settings.batch_bytes),
                                     frame.slice(a, step), lines.slice(a, step))
                                    for a in range(0, lines.len(), step)]
                        times = frame.get_column("time")
                        inflight.append(_InFlight(chunk_no, segments, frame.height, chunk.label,
                                                  int(times.min()), int(times.max())))  # type: ignore[arg-type]
                    stage = "map"  # while the writers work
                    p.field_values += int(frame.select(
                        pl.sum_horizontal([pl.col(f).is_not_null().cast(pl.Int64)
                                           for f in mapped.fields]).sum()).item() or 0)
                    checksum = (checksum + _lines_checksum(lines)) % (1 << 64)
                    if stats is not None:
                        stats.add(frame, mapped.tags, mapped.fields)
                stage = "write"
                while inflight:
                    settle(inflight.popleft())
            except BaseException:
                for item in inflight:
                    for fut, _, _ in item.segments:
                        fut.cancel()
                raise
        if overlap:  # duplicates across chunks: count them (and the statistics) whole
            stage = "verify statistics"
            whole, dups = partition_aggregates(mig, p)
            p.points -= rewritten  # lines written twice onto one point: one point
            p.field_values = sum(int(v.get("count") or 0) for per in whole.result().values()
                                 for v in per.values())
            if stats is not None:
                stats.replace(whole)
        p.status = DONE
    except OnsfluxError as exc:
        p.status = FAILED
        p.error = f"{exc.kind}: {exc}"
        p.retryable = exc.retryable
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen input: wrapped once
        p.status = FAILED
        p.error = (f"internal: the {stage} stage of partition {p.id} failed: "
                   f"{type(exc).__name__}: {exc}")
    p.duplicates, p.superseded = dups.rows, dups.superseded
    p.duplicate_examples = dups.examples
    p.checksum = f"{checksum:016x}"
    return p


def caches_aggregates(mig: Migration) -> bool:
    """Whether ``run`` records the verify statistics of what it wrote (UNLOAD exports:
    immutable files, partitions that do not overlap). Not for ``timestream://``: its
    rows change after the run (late data, sync overlaps), so verify reads it again."""
    return not mig.id.startswith("timestream://")


def _ensure_buckets(mig: Migration, client: InfluxClient, partitions: list[Partition]) -> None:
    for bucket in sorted({p.bucket for p in partitions}):
        client.ensure_database(bucket, mig.settings.retention)


# ------------------------------------------------------------------ process pool workers

_WORKER: dict[str, Any] = {}


def _worker_init(settings: Settings, source: str, mapping: Mapping, table: str | None,
                 csv: Any, no_manifest: bool, url: str) -> None:
    from ..state.store import store_for

    mig = Migration(settings, source, mapping, table=table, csv=csv, no_manifest=no_manifest)
    _WORKER.update(mig=mig, client=InfluxClient(settings, url=url),
                   rejects=store_for(settings))


def _worker_run(partition_id: str) -> dict[str, Any]:
    mig: Migration = _WORKER["mig"]
    return _claim_and_run(mig, _WORKER["client"], partition_id, _WORKER["rejects"])


def record_metrics(result: dict[str, Any]) -> None:
    """Count one partition's outcome in the process that collects results (a pool's
    workers are other processes: their registries are never scraped)."""
    if result.get("status") == DONE:
        metrics.inc("onsflux_migrate_partitions_done_total")
    elif result.get("status") == FAILED:
        metrics.inc("onsflux_migrate_partitions_failed_total")
    metrics.inc("onsflux_migrate_points_total", int(result.get("points") or 0))


def _claim_and_run(mig: Migration, client: InfluxClient, partition_id: str, rejects: Any
                   ) -> dict[str, Any]:
    started = time.perf_counter()
    p = mig.store.claim(mig.id, partition_id, owner_id())
    if p is None:
        current = mig.store.get(mig.id, partition_id)
        return {"id": partition_id, "status": "skipped", **{k: 0 for k in COUNTS},
                "duplicate_examples": [],
                "error": f"not claimed (status {current.status if current else '?'})",
                "seconds": 0.0}
    cache = caches_aggregates(mig)
    stats = SourceAggregator() if cache else None
    try:
        p = run_partition(mig, client, p, rejects_store=rejects, stats=stats)
    except BaseException as exc:  # interrupted (Ctrl-C, SystemExit): not left running
        p.status = FAILED
        p.error = f"interrupted ({type(exc).__name__}); run again to resume"
        mig.store.finish(p)
        raise
    if stats is not None and p.status == DONE:
        mig.store.finish(p, dumps(stats.result(), stats.types, stats.rejected),
                         mig.source.signature(p.files))  # type: ignore[union-attr]
    else:
        mig.store.finish(p)
    out = _result(p, time.perf_counter() - started)
    out["peak_rss_mib"] = _peak_rss_mib()  # of the process that ran it (a pool worker)
    return out


def _peak_rss_mib() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run(
    mig: Migration, *, url: str | None = None, workers: int = 1, dry_run: bool = False,
    partition_ids: list[str] | None = None, progress: Progress = _noop,
    client: InfluxClient | None = None,
) -> RunSummary:
    """Run every partition not yet done (or the ones named); see the module docstring."""
    from ..influx.local import resolve_url

    started = time.perf_counter()
    summary = RunSummary(mig.id, dry_run=dry_run)
    summary.warnings = list(mig.source.warnings)
    if not dry_run:
        reclaimed = mig.store.reclaim_stale(mig.id)
        if reclaimed:
            progress("reclaimed", {"partitions": reclaimed})
    todo = [p for p in mig.partitions(partition_ids)
            if partition_ids or p.status not in (DONE, RUNNING)]
    progress("plan", {"partitions": len(todo), "rows": sum(p.est_rows for p in todo)})
    if not todo:
        summary.seconds = time.perf_counter() - started
        return summary
    if dry_run:
        for p in todo:
            t0 = time.perf_counter()
            p = run_partition(mig, None, p, dry_run=True)
            summary.partitions.append(_result(p, time.perf_counter() - t0))
            progress("partition_done", summary.partitions[-1])
        summary.seconds = time.perf_counter() - started
        return summary

    from ..state.store import store_for

    own_client = client is None
    target = url or ("" if client is not None and workers <= 1 else resolve_url(mig.settings))
    client = client or InfluxClient(mig.settings, url=target)
    try:
        _ensure_buckets(mig, client, todo)
        if workers <= 1:
            rejects = store_for(mig.settings)
            try:
                for p in todo:
                    progress("partition_start", {"id": p.id})
                    summary.partitions.append(_claim_and_run(mig, client, p.id, rejects))
                    record_metrics(summary.partitions[-1])
                    progress("partition_done", summary.partitions[-1])
            finally:
                rejects.close()
        else:
            _run_pool(mig, target, todo, workers, summary, progress)
    finally:
        if own_client:
            client.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _run_pool(mig: Migration, url: str, todo: list[Partition], workers: int,
              summary: RunSummary, progress: Progress) -> None:
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(todo)), mp_context=ctx, initializer=_worker_init,
        initargs=(mig.settings, mig.id, mig.mapping, mig.table, mig.csv, mig.no_manifest, url),
    ) as pool:
        pending: dict[Future[dict[str, Any]], str] = {
            pool.submit(_worker_run, p.id): p.id for p in todo}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                pid = pending.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    summary.errors.append(f"{pid}: a worker process died (killed?); the "
                                          "partition is reclaimed by the next run")
                    continue
                except Exception as exc:  # noqa: BLE001 - reported per partition
                    summary.errors.append(f"{pid}: {type(exc).__name__}: {exc}")
                    continue
                summary.partitions.append(result)
                record_metrics(result)
                progress("partition_done", result)
