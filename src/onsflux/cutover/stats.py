"""Figures over shadow comparisons, and the sliding window the automatic rollback watches.
Pure (the window takes its clock as an argument).

- **consistency rate**: matches / comparisons, over the blue-vs-green comparisons;
- **noise floor**: the mismatch rate of control runs (the served side run twice): what
  the comparison reports when nothing differs but time and the engine's own
  non-determinism. A consistency that is not better than ``1 - noise floor`` says
  nothing about green;
- per side: latency p50/p95/p99 (nearest rank: a measured value) and error rate;
- ``dropped``: samples the bounded shadow queue could not take.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .state import ComparisonRecord

DROPPED = "dropped"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


@dataclass
class SideFigures:
    runs: int = 0
    errors: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.runs if self.runs else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_rate": self.error_rate}


@dataclass
class Figures:
    comparisons: int = 0
    matches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    control_runs: int = 0
    control_mismatches: int = 0
    dropped: int = 0
    blue: SideFigures = field(default_factory=SideFigures)
    green: SideFigures = field(default_factory=SideFigures)

    @property
    def consistency(self) -> float | None:
        return self.matches / self.comparisons if self.comparisons else None

    @property
    def noise_floor(self) -> float | None:
        return self.control_mismatches / self.control_runs if self.control_runs else None

    def as_dict(self) -> dict[str, Any]:
        return {"comparisons": self.comparisons, "matches": self.matches,
                "consistency": self.consistency, "outcomes": dict(self.outcomes),
                "control_runs": self.control_runs, "control_mismatches": self.control_mismatches,
                "noise_floor": self.noise_floor, "dropped": self.dropped,
                "blue": self.blue.as_dict(), "green": self.green.as_dict()}


def _side(ms: list[float], runs: int, errors: int) -> SideFigures:
    return SideFigures(runs, errors, percentile(ms, 50), percentile(ms, 95), percentile(ms, 99))


def figures(records: Sequence[ComparisonRecord]) -> Figures:
    """The figures over ``records`` (see the module docstring)."""
    out = Figures()
    blue_ms: list[float] = []
    green_ms: list[float] = []
    runs = {"blue": 0, "green": 0}
    errors = {"blue": 0, "green": 0}
    for r in records:
        if r.outcome == DROPPED:
            out.dropped += 1
            continue
        if r.control:
            out.control_runs += 1
            out.control_mismatches += r.outcome != "match"
            continue
        out.comparisons += 1
        out.matches += r.outcome == "match"
        out.outcomes[r.outcome] = out.outcomes.get(r.outcome, 0) + 1
        for side, ms, err, bucket in (("blue", r.blue_ms, r.blue_error, blue_ms),
                                      ("green", r.green_ms, r.green_error, green_ms)):
            if ms is None and not err:
                continue
            runs[side] += 1
            errors[side] += err
            if ms is not None and not err:
                bucket.append(ms)
    out.blue = _side(blue_ms, runs["blue"], errors["blue"])
    out.green = _side(green_ms, runs["green"], errors["green"])
    return out


@dataclass
class WindowVerdict:
    requests: int
    error_rate: float
    p95_ms: float | None
    mismatch_rate: float | None
    breached: list[str]


class SlidingWindow:
    """Green's recent runs (served or shadow) and comparisons, the last ``seconds``."""

    def __init__(self, seconds: float, *, max_events: int = 50_000) -> None:
        self.seconds = seconds
        self._runs: deque[tuple[float, float | None, bool]] = deque(maxlen=max_events)
        self._cmp: deque[tuple[float, bool]] = deque(maxlen=max_events)

    def run(self, now: float, ms: float | None, error: bool) -> None:
        self._runs.append((now, ms, error))

    def comparison(self, now: float, match: bool) -> None:
        self._cmp.append((now, match))

    def clear(self) -> None:
        self._runs.clear()
        self._cmp.clear()

    def _trim(self, now: float) -> None:
        edge = now - self.seconds
        while self._runs and self._runs[0][0] < edge:
            self._runs.popleft()
        while self._cmp and self._cmp[0][0] < edge:
            self._cmp.popleft()

    def verdict(self, now: float, *, min_requests: int, max_error_rate: float,
                max_p95_ms: float, max_mismatch_rate: float) -> WindowVerdict:
        """What the window says; ``breached`` names each crossed threshold, with figures."""
        self._trim(now)
        runs = list(self._runs)
        n = len(runs)
        errors = sum(1 for _, _, e in runs if e)
        ms = [m for _, m, e in runs if m is not None and not e]
        p95 = percentile(ms, 95)
        cmps = list(self._cmp)
        mismatch = (sum(1 for _, ok in cmps if not ok) / len(cmps)) if cmps else None
        rate = errors / n if n else 0.0
        breached: list[str] = []
        if n >= min_requests:
            if rate > max_error_rate:
                breached.append(f"green error rate {rate:.1%} ({errors} of {n} runs in the last "
                                f"{self.seconds:g} s) > {max_error_rate:.1%}")
            if p95 is not None and p95 > max_p95_ms:
                breached.append(f"green p95 {p95:.0f} ms over the last {self.seconds:g} s "
                                f"> {max_p95_ms:.0f} ms")
        if mismatch is not None and len(cmps) >= min_requests and mismatch > max_mismatch_rate:
            breached.append(f"mismatch rate {mismatch:.1%} ({len(cmps)} comparisons in the "
                            f"last {self.seconds:g} s) > {max_mismatch_rate:.1%}")
        return WindowVerdict(n, rate, p95, mismatch, breached)


def latency_series(records: Sequence[ComparisonRecord], *, bucket_seconds: float = 60.0,
                   max_points: int = 120) -> dict[str, list[tuple[float, float]]]:
    """p95 latency per side over time: ``{"blue": [(bucket_start_epoch_s, p95_ms)…], …}``,
    from the shadow comparisons (each holds both sides' timings), newest ``max_points``."""
    buckets: dict[str, dict[float, list[float]]] = {"blue": {}, "green": {}}
    for r in records:
        if r.outcome == DROPPED or r.control:
            continue
        start = r.at - r.at % bucket_seconds
        for side, ms, err in (("blue", r.blue_ms, r.blue_error), ("green", r.green_ms,
                                                                   r.green_error)):
            if ms is not None and not err:
                buckets[side].setdefault(start, []).append(ms)
    out: dict[str, list[tuple[float, float]]] = {}
    for side, by_time in buckets.items():
        points = [(t, percentile(v, 95) or 0.0) for t, v in sorted(by_time.items())]
        out[side] = points[-max_points:]
    return out
