"""Route each query to the backend the cutover phase says; shadow a sample; roll back
by itself when green misbehaves.

- The phase is read from the cutover store and cached for ``refresh_seconds`` (default
  2 s): a transition made anywhere reaches every running process within that time
  (the contract is 5 s), for one small read per process every refresh.
- No cutover configured (the state was never written): the router is a pass-through to
  the plain executor (InfluxDB with its Parquet fallback), exactly as before.
- ``canary`` is sticky: a spec goes to green when ``bucket(spec) < percent``, where
  ``bucket`` is a stable hash (SHA-256) of the normalized spec mapped to [0, 100): the
  same query always lands on the same side, in every process.
- Green failing on a request (any error) is answered from blue instead, with a warning:
  the user never sees green's failure; the failure counts in the sliding window.
- During ``canary``, ``green`` and ``green-shadow``, when the window of green's error
  rate, p95 or mismatch rate crosses its threshold the router switches the phase to
  ``rolled-back`` (a versioned transition: of many processes, one wins) and records why.

Serving per phase (served side / shadowed side)::

    blue, rolled-back   blue / -          canary     sticky split / the other side
    shadow              blue / green      green      green / -
                                          green-shadow  green / blue
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .. import metrics
from ..exceptions import OnsfluxError
from ..query.result import QueryResult
from ..query.spec import QuerySpec
from ..settings import Settings
from .backends import Backend, FilesBackend, InfluxBackend, make_backend
from .compare import IgnoreRules
from .shadow import Job, ShadowQueue
from .state import CutoverState, CutoverStore, StaleState, whoami
from .stats import SlidingWindow

SHADOWED = {"shadow": True, "canary": True, "green-shadow": True}
WATCHED = ("canary", "green", "green-shadow")


def normalized(spec: QuerySpec) -> str:
    """The spec as canonical JSON: sorted keys, tag values sorted (their order means nothing)."""
    doc = spec.to_dict()
    if "where" in doc:
        doc["where"] = {k: sorted(v) for k, v in sorted(doc["where"].items())}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def spec_hash(spec: QuerySpec) -> str:
    return hashlib.sha256(normalized(spec).encode()).hexdigest()[:16]


def bucket(h: str) -> float:
    """A spec hash -> a stable point in [0, 100)."""
    return int(h, 16) % 10_000 / 100


def served_side(state: CutoverState, h: str) -> str:
    if state.phase in ("green", "green-shadow"):
        return "green"
    if state.phase == "canary":
        return "green" if bucket(h) < state.percent else "blue"
    return "blue"


class Router:
    """Runs specs like ``Executor.run`` does, on the side the cutover phase says."""

    def __init__(self, settings: Settings, store: CutoverStore, *,
                 executor: Any | None = None,
                 backends: dict[str, Backend] | None = None,
                 refresh_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 rng: Callable[[], float] = random.random,
                 max_queue: int = 64,
                 who: str | None = None) -> None:
        """``executor``: the plain executor for the pass-through (no cutover configured);
        ``backends``: ready-made backends by name (tests), else built from the state."""
        self.settings = settings
        self.store = store
        self.executor = executor
        self._backends: dict[str, Backend] = dict(backends or {})
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.rng = rng
        self.who = who
        self._state: CutoverState | None = None
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        self.window = SlidingWindow(60.0)
        self.shadow = ShadowQueue(store, self._run_side, max_queue=max_queue,
                                  on_green=self._green_seen)
        self.rollbacks: list[dict[str, Any]] = []
        self._unchecked = 0
        self._checked_at = float("-inf")

    # ------------------------------------------------------------------ state
    def state(self, *, refresh: bool = False) -> CutoverState:
        """The phase, re-read when older than ``refresh_seconds``."""
        now = self.clock()
        if refresh or self._state is None or now - self._read_at >= self.refresh_seconds:
            try:
                st = self.store.get_state()
            except OnsfluxError:
                # the store is unreachable: keep the last phase (or, never having read
                # one, behave as if no cutover were configured) and try again later
                st = self._state if self._state is not None else CutoverState()
            metrics.cutover_phase(st.phase, st.percent)
            with self._lock:
                if self._state is not None and st.version != self._state.version:
                    self.window.clear()
                self.window.seconds = st.thresholds.window_seconds
                self._state, self._read_at = st, now
        assert self._state is not None
        return self._state

    def backend(self, name: str, state: CutoverState) -> Backend:
        if name not in self._backends:
            with self._lock:
                if name not in self._backends:
                    if name == "influxdb" and self.executor is not None:
                        from ..query.execute import Executor

                        ex = Executor(self.settings, client=self.executor.client, fallback=None)
                        self._backends[name] = InfluxBackend(self.settings, ex)
                    elif name == "files" and state.files_path:
                        self._backends[name] = FilesBackend(state.files_path, self.settings)
                    else:
                        self._backends[name] = make_backend(name, self.settings)
        return self._backends[name]

    def _side_backend(self, side: str, state: CutoverState) -> Backend:
        return self.backend(state.blue if side == "blue" else state.green, state)

    def _run_side(self, side: str, spec: QuerySpec) -> QueryResult:
        return self._side_backend(side, self.state()).run(spec)

    # ------------------------------------------------------------------ front door
    def run(self, spec: QuerySpec, *, window_note: bool = True, dialect: str = "auto"
            ) -> QueryResult:
        """Answer ``spec`` from the side the phase says (see the module docstring);
        ``dialect`` applies to the pass-through (no cutover configured)."""
        st = self.state()
        if st.version == 0 and self.executor is not None:
            return self.executor.run(  # type: ignore[no-any-return]
                spec, window_note=window_note, dialect=dialect)
        started = time.perf_counter()
        h = spec_hash(spec)
        side = served_side(st, h)
        served: QueryResult | BaseException
        try:
            served = self._side_backend(side, st).run(spec)
        except OnsfluxError as exc:
            served = exc
        served_ms = (time.perf_counter() - started) * 1000
        if side == "green":
            self.window.run(self.clock(), served_ms, isinstance(served, BaseException))
        if isinstance(served, BaseException):
            if side != "green":
                raise served
            # green failed: answer from blue; the user never sees green's failure
            result = self._side_backend("blue", st).run(spec)
            result.warnings.append(f"{st.green} failed ({getattr(served, 'kind', 'error')}: "
                                   f"{str(served)[:200]}); answered from {st.blue}")
        else:
            result = served
        self._maybe_shadow(st, spec, h, side, served, served_ms)
        if st.phase in WATCHED:
            self._check_window(st)
        if window_note and spec.window_note and spec.window_note not in result.warnings:
            result.warnings.append(spec.window_note)
        return result

    def _maybe_shadow(self, st: CutoverState, spec: QuerySpec, h: str, side: str,
                      served: QueryResult | BaseException, served_ms: float) -> None:
        """The only shadow work on the request path: sample, and hand over without waiting."""
        if SHADOWED.get(st.phase) and st.sample > 0 and self.rng() < st.sample:
            control = self.rng() < st.control_sample
            self.shadow.submit(Job(spec, h, side, served, served_ms, control,
                                   _ignore(st.ignore), st.timeout_ms))

    # ------------------------------------------------------------------ automatic rollback
    def _green_seen(self, ms: float | None, error: bool, match: bool | None) -> None:
        now = self.clock()
        self.window.run(now, ms, error)
        if match is not None:
            self.window.comparison(now, match)

    def _check_window(self, st: CutoverState) -> None:
        # the verdict sorts the window: done every 10th request or 0.5 s, not on each one
        now = self.clock()
        self._unchecked += 1
        if self._unchecked < 10 and now - self._checked_at < 0.5:
            return
        self._unchecked, self._checked_at = 0, now
        th = st.thresholds
        v = self.window.verdict(now, min_requests=th.window_min_requests,
                                max_error_rate=th.rollback_error_rate,
                                max_p95_ms=th.rollback_p95_ms,
                                max_mismatch_rate=th.rollback_mismatch_rate)
        if not v.breached:
            return
        reason = "automatic rollback: " + "; ".join(v.breached)
        who = f"auto:{self.who or whoami(self.settings)}"
        try:
            new = self.store.transition(
                replace(st, phase="rolled-back", percent=0.0), expected_version=st.version,
                action="auto-rollback", who=who, reason=reason,
                gate={"window": {"requests": v.requests, "error_rate": v.error_rate,
                                 "p95_ms": v.p95_ms, "mismatch_rate": v.mismatch_rate}})
            self.rollbacks.append({"at": time.time(), "reason": reason, "version": new.version})
        except StaleState:
            pass  # another process (or an operator) changed the phase first
        self.state(refresh=True)

    def close(self) -> None:
        self.shadow.close()
        for b in self._backends.values():
            b.close()


@functools.lru_cache(maxsize=32)
def _ignore(text: str) -> IgnoreRules:
    return IgnoreRules.parse(text)


def router_for(settings: Settings, executor: Any) -> Router:
    """The router every front door (API, ``ask``, ``query``) runs specs through: a
    pass-through to ``executor`` until a cutover is configured in the state store."""
    from .state import open_cutover_store

    return Router(settings, open_cutover_store(settings), executor=executor)
