"""Scoring the parser against the evaluation set (``evalset.jsonl``). Pure: no I/O.

Each case: ``{"id", "question", "now", "expect": {"status", "intent"?, "spec"?,
"candidates"?}, "kind"?}``. ``kind`` is ``out_of_scope`` or ``injection`` for refusals.
A spec matches when the parsed spec equals the expected one after both go through
``QuerySpec.parse`` (times compared as instants; tag filter values as sets, since a
filter is an OR of its values). Ambiguous cases match when the candidate values are the
expected ones (as a set).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..query.spec import QuerySpec
from .entities import Vocabulary
from .parse import ParsedQuestion, parse

__all__ = ["CaseResult", "Report", "evaluate", "normalized_spec", "run_case"]


def normalized_spec(spec: QuerySpec | dict[str, Any]) -> dict[str, Any]:
    s = spec if isinstance(spec, QuerySpec) else QuerySpec.parse(spec)
    d = s.to_dict()
    if "where" in d:
        d["where"] = {k: sorted(v) for k, v in d["where"].items()}
    return d


@dataclass
class CaseResult:
    id: str
    question: str
    expected_status: str
    status: str
    intent_expected: str | None
    intent: str | None
    passed: bool
    detail: str = ""
    parsed: ParsedQuestion | None = None


def run_case(case: dict[str, Any], vocabulary: Vocabulary | None = None) -> CaseResult:
    exp = case["expect"]
    parsed = parse(case["question"], now=datetime.fromisoformat(case["now"]), vocabulary=vocabulary)
    ok = parsed.status == exp["status"]
    detail = "" if ok else f"status {parsed.status} (reason: {parsed.reason})"
    if ok and exp["status"] == "ok":
        got, want = normalized_spec(parsed.spec), normalized_spec(exp["spec"])  # type: ignore[arg-type]
        if got != want:
            ok, detail = False, f"spec {got} != {want}"
        elif exp.get("intent") and parsed.intent != exp["intent"]:
            ok, detail = False, f"intent {parsed.intent} != {exp['intent']}"
    elif ok and exp["status"] == "ambiguous" and "candidates" in exp:
        got_c = sorted(c.value for c in parsed.candidates)
        if got_c != sorted(exp["candidates"]):
            ok, detail = False, f"candidates {got_c} != {sorted(exp['candidates'])}"
    return CaseResult(case["id"], case["question"], exp["status"], parsed.status,
                      exp.get("intent"), parsed.intent, ok, detail, parsed)


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)

    def _rate(self, rows: list[CaseResult]) -> float | None:
        return round(sum(r.passed for r in rows) / len(rows), 4) if rows else None

    @property
    def answerable(self) -> list[CaseResult]:
        return [r for r in self.results if r.expected_status == "ok"]

    @property
    def refusals(self) -> list[CaseResult]:
        return [r for r in self.results if r.expected_status == "unanswerable"]

    @property
    def ambiguous(self) -> list[CaseResult]:
        return [r for r in self.results if r.expected_status == "ambiguous"]

    def summary(self) -> dict[str, Any]:
        per_intent: dict[str, list[CaseResult]] = defaultdict(list)
        for r in self.answerable:
            per_intent[r.intent_expected or "?"].append(r)
        false_refusals = [r for r in self.results
                          if r.expected_status != "unanswerable" and r.status == "unanswerable"]
        return {
            "cases": len(self.results),
            "answerable": len(self.answerable),
            "exact_spec_accuracy": self._rate(self.answerable),
            "refusal_accuracy": self._rate(self.refusals),
            "refusals": len(self.refusals),
            "ambiguity_accuracy": self._rate(self.ambiguous),
            "ambiguous": len(self.ambiguous),
            "false_refusals": len(false_refusals),
            "per_intent": {k: {"cases": len(v), "accuracy": self._rate(v)}
                           for k, v in sorted(per_intent.items())},
            "failures": [{"id": r.id, "question": r.question, "detail": r.detail}
                         for r in self.results if not r.passed],
        }


def evaluate(cases: list[dict[str, Any]], vocabulary: Vocabulary | None = None) -> Report:
    return Report([run_case(c, vocabulary) for c in cases])
