"""Shadow comparison off the request path: a bounded queue and one background worker.

The request thread only decides whether to sample and calls ``put_nowait``: it never
waits for the other side, never sees its errors. When the queue is full the sample is
dropped and counted (recorded as a ``dropped`` comparison so ``status`` shows it).
The worker runs the other side (or, for a ``control_sample`` share, the served side
again: the noise floor), compares blue (control) with green (candidate), and records
the comparison, plus a mismatch record with a bounded diff sample when they differ.
Records are written in small batches (``flush_every`` records or ``flush_seconds``).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import metrics
from ..query.result import QueryResult
from ..query.spec import QuerySpec
from .compare import Comparison, IgnoreRules, Tolerance, compare_results
from .state import ComparisonRecord, CutoverStore, MismatchRecord
from .stats import DROPPED


@dataclass
class Job:
    """One sampled request: what was served, and which side to run now."""

    spec: QuerySpec
    spec_hash: str
    served: str                      # blue | green
    served_result: QueryResult | BaseException
    served_ms: float
    control: bool                    # run the served side again (noise floor)
    ignore: IgnoreRules
    timeout_ms: float


Runner = Callable[[str, QuerySpec], QueryResult]


class ShadowQueue:
    """Bounded queue + one daemon worker (see the module docstring)."""

    def __init__(self, store: CutoverStore, run_side: Runner, *, max_queue: int = 64,
                 flush_every: int = 20, flush_seconds: float = 1.0,
                 on_green: Callable[[float | None, bool, bool | None], None] | None = None,
                 tolerance: Tolerance | None = None) -> None:
        self.store = store
        self.run_side = run_side
        self.tolerance = tolerance or Tolerance()
        self.on_green = on_green
        self._q: queue.Queue[Job | None] = queue.Queue(maxsize=max_queue)
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.dropped = 0
        self.done = 0
        self._pending: list[ComparisonRecord] = []
        self._compared = 0  # non-control comparisons this process made, and how many matched
        self._matched = 0
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    # ------------------------------------------------------------------ request side
    def submit(self, job: Job) -> bool:
        """Queue ``job`` without waiting; False (and counted) when the queue is full."""
        if self._thread is None:
            self._start()
        try:
            self._q.put_nowait(job)
            self._idle.clear()
            return True
        except queue.Full:
            with self._lock:
                self.dropped += 1
                self._pending.append(ComparisonRecord(time.time(), job.spec_hash, DROPPED,
                                                      job.control, job.served, None, None,
                                                      False, False))
            return False

    # ------------------------------------------------------------------ worker side
    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="onsflux-shadow",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        # below the request threads for the CPU (Linux: a thread has its own nice value);
        # the GIL is still shared, which bench/cutover.py measures
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while True:
            try:
                job = self._q.get(timeout=self.flush_seconds)
            except queue.Empty:
                self._flush(force=True)
                if self._q.empty():
                    self._idle.set()
                continue
            if job is None:
                self._flush(force=True)
                self._idle.set()
                return
            try:
                self._process(job)
            except Exception:  # noqa: BLE001 - the shadow must never die; counted as error
                pass
            finally:
                self.done += 1
                self._flush()
                if self._q.empty():
                    self._flush(force=True)
                    self._idle.set()

    def _process(self, job: Job) -> None:
        side = job.served if job.control else ("green" if job.served == "blue" else "blue")
        t0 = time.perf_counter()
        other: QueryResult | BaseException
        try:
            other = self.run_side(side, job.spec)
        except Exception as exc:  # noqa: BLE001 - an error is an outcome here
            other = exc
        other_ms = (time.perf_counter() - t0) * 1000
        blue: QueryResult | BaseException
        green: QueryResult | BaseException
        if job.served == "blue":
            blue, green, blue_ms, green_ms = job.served_result, other, job.served_ms, other_ms
        else:
            blue, green, blue_ms, green_ms = other, job.served_result, other_ms, job.served_ms
        if job.control:
            # the served side twice: first run is the control, the second the candidate
            cmp = compare_results(job.served_result, other, ignore=job.ignore, tol=self.tolerance,
                                  candidate_ms=other_ms, timeout_ms=job.timeout_ms)
            rec = ComparisonRecord(time.time(), job.spec_hash, cmp.outcome, True, job.served,
                                   job.served_ms if job.served == "blue" else None,
                                   job.served_ms if job.served == "green" else None,
                                   False, False)
        else:
            cmp = compare_results(blue, green, ignore=job.ignore, tol=self.tolerance,
                                  candidate_ms=other_ms, timeout_ms=job.timeout_ms)
            rec = ComparisonRecord(time.time(), job.spec_hash, cmp.outcome, False, job.served,
                                   None if isinstance(blue, BaseException) else blue_ms,
                                   None if isinstance(green, BaseException) else green_ms,
                                   isinstance(blue, BaseException),
                                   isinstance(green, BaseException))
            if self.on_green is not None and side == "green":
                self.on_green(green_ms, isinstance(green, BaseException), cmp.ok)
        metrics.inc("onsflux_cutover_comparisons_total", outcome=cmp.outcome)
        with self._lock:
            self._pending.append(rec)
            if not job.control:  # this process's share of matching comparisons
                self._compared += 1
                self._matched += cmp.ok
                metrics.set_gauge("onsflux_cutover_consistency_ratio",
                                  self._matched / self._compared)
        if not cmp.ok:
            self.store.add_mismatch(_mismatch(job, cmp, rec))

    def _flush(self, force: bool = False) -> None:
        with self._lock:
            due = (len(self._pending) >= self.flush_every
                   or time.monotonic() - self._last_flush >= self.flush_seconds)
            if not self._pending or not (due or force):
                return
            batch, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        self.store.add_comparisons(batch)

    # ------------------------------------------------------------------ life cycle
    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued job is compared and recorded (tests, rehearsal, bench)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._q.empty() and self._idle.wait(0.05):
                self._flush(force=True)
                return True
        return False

    def close(self) -> None:
        if self._thread is not None:
            self.drain(5.0)
            with contextlib.suppress(queue.Full):
                self._q.put_nowait(None)
            self._thread.join(timeout=5.0)
        self._flush(force=True)


def _mismatch(job: Job, cmp: Comparison, rec: ComparisonRecord) -> MismatchRecord:
    # compared as (blue, green), or (served, served again) for a control run
    blue_d, green_d = cmp.control_digest, cmp.candidate_digest
    blue_n, green_n = cmp.control_rows, cmp.candidate_rows
    spec: dict[str, Any] = job.spec.to_dict()
    return MismatchRecord(rec.at, job.spec_hash, spec, cmp.outcome, job.control, blue_d,
                          green_d, blue_n, green_n, dict(cmp.counts),
                          [d.as_dict() for d in cmp.diffs], cmp.detail)
