"""The gate ``shift`` and ``promote`` must pass. Pure: figures, thresholds, a verify record
and the time in; a verdict out, each failed condition saying by how much.

Conditions (thresholds in :class:`~onsflux.cutover.state.Thresholds`):

1. consistency >= ``min_consistency`` over >= ``min_comparisons`` blue-vs-green comparisons;
2. green p95 <= ``max_latency_ratio`` x blue p95;
3. green error rate <= blue's (+ ``max_error_rate_excess``);
4. a ``migrate verify`` that passed within ``verify_max_age_hours``.

``--force --reason`` overrides a refusal; the override and these results are recorded in
the audit trail.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .state import Thresholds
from .stats import Figures


@dataclass
class Check:
    name: str
    ok: bool
    value: float | None
    limit: float | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GateResult:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.as_dict() for c in self.checks]}


@dataclass(frozen=True)
class VerifyRecord:
    """The newest ``migrate verify``: when (epoch seconds), its verdict, which migration."""

    at: float
    ok: bool
    migration: str
    mismatches: int = 0
    verdict: str = ""


def evaluate(fig: Figures, th: Thresholds, verify: VerifyRecord | None, now: float) -> GateResult:
    """Every condition of the module docstring, passed or failed with its margin."""
    out = GateResult()
    n, c = fig.comparisons, fig.consistency
    if n < th.min_comparisons:
        out.checks.append(Check("comparisons", False, n, th.min_comparisons,
                                f"{n} comparisons, {th.min_comparisons - n} short of the "
                                f"{th.min_comparisons} needed"))
    else:
        out.checks.append(Check("comparisons", True, n, th.min_comparisons,
                                f"{n} comparisons >= {th.min_comparisons}"))
    if c is None or c < th.min_consistency:
        shown = "no comparisons" if c is None else f"{c:.3%}"
        gap = "" if c is None else f", {th.min_consistency - c:.3%} below"
        out.checks.append(Check("consistency", False, c, th.min_consistency,
                                f"consistency {shown} < {th.min_consistency:.3%}{gap}"))
    else:
        out.checks.append(Check("consistency", True, c, th.min_consistency,
                                f"consistency {c:.3%} >= {th.min_consistency:.3%}"))
    g95, b95 = fig.green.p95_ms, fig.blue.p95_ms
    if g95 is None or b95 is None:
        out.checks.append(Check("latency", False, None, th.max_latency_ratio,
                                "no latency measured on both sides yet"))
    else:
        limit = th.max_latency_ratio * b95
        ratio = g95 / b95 if b95 > 0 else float("inf") if g95 > 0 else 1.0
        ok = g95 <= limit
        out.checks.append(Check(
            "latency", ok, ratio, th.max_latency_ratio,
            f"green p95 {g95:.1f} ms {'<=' if ok else '>'} {th.max_latency_ratio:g} x blue p95 "
            f"{b95:.1f} ms = {limit:.1f} ms" + ("" if ok else f" (over by {g95 - limit:.1f} ms)")))
    ge, be = fig.green.error_rate, fig.blue.error_rate
    if ge is None or be is None:
        out.checks.append(Check("errors", False, ge, be,
                                "no runs on both sides yet: error rates unknown"))
    else:
        limit_e = be + th.max_error_rate_excess
        ok = ge <= limit_e
        out.checks.append(Check(
            "errors", ok, ge, limit_e,
            f"green error rate {ge:.2%} {'<=' if ok else '>'} blue's {be:.2%}"
            + ("" if ok else f" (over by {ge - limit_e:.2%})")))
    max_age = th.verify_max_age_hours * 3600
    if verify is None:
        out.checks.append(Check("verify", False, None, th.verify_max_age_hours,
                                "no migrate verify recorded: run onsflux migrate verify"))
    else:
        age_h = (now - verify.at) / 3600
        if not verify.ok:
            said = f"said {verify.verdict!r}, " if verify.verdict else ""
            out.checks.append(Check("verify", False, age_h, th.verify_max_age_hours,
                                    f"the last migrate verify ({verify.migration}, {age_h:.1f} h "
                                    f"ago) {said}not identical: {verify.mismatches} "
                                    "mismatches"))
        elif now - verify.at > max_age:
            out.checks.append(Check("verify", False, age_h, th.verify_max_age_hours,
                                    f"the last passing migrate verify is {age_h:.1f} h old, "
                                    f"{age_h - th.verify_max_age_hours:.1f} h older than the "
                                    f"{th.verify_max_age_hours:g} h allowed"))
        else:
            out.checks.append(Check("verify", True, age_h, th.verify_max_age_hours,
                                    f"migrate verify passed {age_h:.1f} h ago ({verify.migration})"))
    return out


def last_verify(state_path: str) -> VerifyRecord | None:
    """The newest ``migrate verify`` event in the SQLite state file (None if none, or
    the state is not SQLite: migrations are recorded in SQLite only)."""
    if state_path.startswith("dynamodb://") or not Path(state_path).exists():
        return None
    db = sqlite3.connect(f"file:{state_path}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT at, migration, detail FROM migration_events "
                         "WHERE action = 'verify' ORDER BY seq DESC LIMIT 1").fetchone()
    except sqlite3.OperationalError:  # no migration tables: nothing was ever migrated
        return None
    finally:
        db.close()
    if row is None:
        return None
    detail = json.loads(row[2] or "{}")
    return VerifyRecord(float(row[0]), bool(detail.get("ok")), str(row[1]),
                        int(detail.get("mismatches") or 0), str(detail.get("verdict") or ""))
