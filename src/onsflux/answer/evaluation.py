"""Scoring the parser against the evaluation set (``evalset.jsonl``). Pure: no I/O.

Each case: ``{"id", "question", "now", "expect": {"status", "intent"?, "spec"?,
"candidates"?, "postprocess"?, "defaulted"?}, "kind"?, "split"?, "lang"?, "class"?}``.
``kind`` is ``out_of_scope``, ``injection`` or ``period`` for refusals. ``split`` is
``dev`` (the default: the original set and the new questions asked on 2024-06-12) or
``test`` (new questions asked on another day, 2025-11-19, so that relative periods
resolve differently); ``lang`` is the question's language as its author wrote it (the
parser's guess is used only when a case does not say). ``postprocess`` and
``defaulted``, when given, must match too: a breakdown by calendar month or a weekend
filter lives in the postprocess steps, and a question that names no period must be
answered for the default period and say so. ``batch`` 2 of the new questions was written
after the parser changes, before running any of them, as a second held-out check.
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
    split: str = "dev"
    lang: str = "pt"
    cls: str | None = None
    batch: int = 1


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
        elif "postprocess" in exp and parsed.postprocess != exp["postprocess"]:
            ok, detail = False, f"postprocess {parsed.postprocess} != {exp['postprocess']}"
        elif "defaulted" in exp and (parsed.time_range is None
                                     or parsed.time_range.defaulted != exp["defaulted"]):
            ok, detail = False, f"defaulted period != {exp['defaulted']}"
    elif ok and exp["status"] == "ambiguous" and "candidates" in exp:
        got_c = sorted(c.value for c in parsed.candidates)
        if got_c != sorted(exp["candidates"]):
            ok, detail = False, f"candidates {got_c} != {sorted(exp['candidates'])}"
    lang = case.get("lang") or parsed.language
    return CaseResult(case["id"], case["question"], exp["status"], parsed.status,
                      exp.get("intent"), parsed.intent, ok, detail, parsed,
                      split=case.get("split", "dev"), lang=lang, cls=case.get("class"),
                      batch=int(case.get("batch", 1)))


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

    def accuracy(self, **where: str | int | None) -> dict[str, Any]:
        """Share of cases passed (any status) among those whose attributes match ``where``,
        overall and per language."""
        rows = [r for r in self.results if all(getattr(r, k) == v for k, v in where.items())]
        return {"cases": len(rows), "accuracy": self._rate(rows),
                "per_language": {lang: {"cases": len(sub), "accuracy": self._rate(sub)}
                                 for lang in ("pt", "en")
                                 if (sub := [r for r in rows if r.lang == lang])}}

    def per_class(self) -> dict[str, dict[str, Any]]:
        classes = sorted({r.cls for r in self.results if r.cls})
        return {c: self.accuracy(cls=c) for c in classes}

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
