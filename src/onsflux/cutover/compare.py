"""Compare two answers to the same spec. Pure: no I/O, no clock.

Rows are keyed by ``(field, tags, time)``; the key must match exactly (timestamps are
integers in nanoseconds: exact). Values: integers, booleans and strings exactly; floats
within a relative tolerance (``math.isclose(rel_tol, abs_tol)``; NaN equals NaN);
``None`` equals ``None`` only. Ignore rules drop fields or tag keys before keying (a
tag one engine adds and the other does not, a field that is known to differ).

Outcomes, in the order they are decided:

``error``     exactly one side raised (both raising the same kind is a ``match``: the
              engines agree the query cannot run; different kinds are ``error`` too)
``timeout``   the shadow side took longer than the comparison's timeout
``missing``   rows the control (the side being replaced) has and the candidate lacks
``extra``     rows the candidate has and the control lacks
``value``     same keys, some values differ
``match``     everything equal

A mismatch keeps a bounded diff sample (``MAX_DIFF``) and both sides' digests: SHA-256
of the canonical sorted rows, so two runs that agree have the same digest.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ..frames import rfc3339
from ..query.result import QueryResult, Row

Outcome = Literal["match", "value", "missing", "extra", "error", "timeout"]
OUTCOMES: tuple[str, ...] = ("match", "value", "missing", "extra", "error", "timeout")
MAX_DIFF = 10


@dataclass(frozen=True)
class IgnoreRules:
    """What the comparison leaves out: whole fields, and tag keys (dropped before keying)."""

    fields: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> IgnoreRules:
        """``field:power_mw,tag:plant_id`` -> rules (empty text: nothing ignored)."""
        fields: set[str] = set()
        tags: set[str] = set()
        for part in (text or "").split(","):
            part = part.strip()
            if not part:
                continue
            kind, _, name = part.partition(":")
            if kind == "field" and name:
                fields.add(name)
            elif kind == "tag" and name:
                tags.add(name)
            else:
                from ..exceptions import ConfigError

                raise ConfigError(f"ignore rule {part!r}: use field:NAME or tag:NAME")
        return cls(frozenset(fields), frozenset(tags))

    def as_text(self) -> str:
        return ",".join([*(f"field:{f}" for f in sorted(self.fields)),
                         *(f"tag:{t}" for t in sorted(self.tags))])


@dataclass(frozen=True)
class Tolerance:
    rel: float = 1e-9
    abs: float = 1e-9


@dataclass
class Diff:
    """One differing row: its key and both values (None where a side has no row)."""

    field: str
    tags: dict[str, str]
    time_ns: int
    control: Any
    candidate: Any
    kind: str  # value | missing | extra

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "field": self.field, "tags": self.tags,
                "time": rfc3339(self.time_ns), "time_ns": self.time_ns,
                "control": self.control, "candidate": self.candidate}


@dataclass
class Comparison:
    outcome: Outcome
    control_digest: str | None
    candidate_digest: str | None
    control_rows: int = 0
    candidate_rows: int = 0
    diffs: list[Diff] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "match"


Key = tuple[str, tuple[tuple[str, str], ...], int]


def _keyed(rows: list[Row], ignore: IgnoreRules) -> dict[Key, Any]:
    out: dict[Key, Any] = {}
    for r in rows:
        if r.field in ignore.fields:
            continue
        tags = tuple(sorted((k, v) for k, v in r.tags.items() if k not in ignore.tags))
        out[(r.field, tags, r.time_ns)] = r.value
    return out


def digest(rows: list[Row], ignore: IgnoreRules | None = None) -> str:
    """SHA-256 of the canonical (sorted) rows: equal answers, equal digests."""
    keyed = _keyed(rows, ignore or IgnoreRules())
    h = hashlib.sha256()
    for key in sorted(keyed):
        h.update(repr((key, keyed[key])).encode())
    return h.hexdigest()[:16]


def same_value(a: Any, b: Any, tol: Tolerance) -> bool:
    """Floats within tolerance; everything else (int, bool, str, None) exactly."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    return math.isclose(fa, fb, rel_tol=tol.rel, abs_tol=tol.abs)


def compare_rows(control: list[Row], candidate: list[Row], *,
                 ignore: IgnoreRules | None = None, tol: Tolerance | None = None,
                 max_diff: int = MAX_DIFF) -> Comparison:
    """Compare two successful answers (see the module docstring)."""
    ignore = ignore or IgnoreRules()
    tol = tol or Tolerance()
    a, b = _keyed(control, ignore), _keyed(candidate, ignore)
    missing = [k for k in a if k not in b]
    extra = [k for k in b if k not in a]
    differ = [k for k in a if k in b and not same_value(a[k], b[k], tol)]
    counts = {"missing": len(missing), "extra": len(extra), "value": len(differ)}
    diffs: list[Diff] = []
    for kind, keys in (("missing", missing), ("extra", extra), ("value", differ)):
        for k in sorted(keys)[: max(0, max_diff - len(diffs))]:
            diffs.append(Diff(k[0], dict(k[1]), k[2], a.get(k), b.get(k), kind))
    outcome: Outcome = ("missing" if missing else "extra" if extra else
                        "value" if differ else "match")
    return Comparison(outcome, digest(control, ignore), digest(candidate, ignore),
                      len(control), len(candidate), diffs, counts)


def compare_results(control: QueryResult | BaseException, candidate: QueryResult | BaseException,
                    *, ignore: IgnoreRules | None = None, tol: Tolerance | None = None,
                    candidate_ms: float | None = None, timeout_ms: float | None = None
                    ) -> Comparison:
    """Compare two outcomes of the same spec: a result or the exception each side raised."""
    c_err = isinstance(control, BaseException)
    d_err = isinstance(candidate, BaseException)
    if c_err or d_err:
        kinds = [getattr(x, "kind", type(x).__name__) if isinstance(x, BaseException) else None
                 for x in (control, candidate)]
        detail = "; ".join(f"{side}: {type(x).__name__}: {str(x)[:200]}"
                           for side, x in (("control", control), ("candidate", candidate))
                           if isinstance(x, BaseException))
        outcome: Outcome = "match" if (c_err and d_err and kinds[0] == kinds[1]) else "error"
        return Comparison(
            outcome,
            None if c_err else digest(control.rows),  # type: ignore[union-attr]
            None if d_err else digest(candidate.rows),  # type: ignore[union-attr]
            0 if c_err else control.row_count,  # type: ignore[union-attr]
            0 if d_err else candidate.row_count,  # type: ignore[union-attr]
            detail=detail)
    assert isinstance(control, QueryResult) and isinstance(candidate, QueryResult)
    if timeout_ms is not None and candidate_ms is not None and candidate_ms > timeout_ms:
        return Comparison("timeout", digest(control.rows), digest(candidate.rows),
                          control.row_count, candidate.row_count,
                          detail=f"candidate took {candidate_ms:.0f} ms > {timeout_ms:.0f} ms")
    return compare_rows(control.rows, candidate.rows, ignore=ignore, tol=tol)
