"""Question parser benchmark: accuracy on the evaluation set and parse latency.

``onsflux bench nl --json`` reports, over the original set (``evalset.jsonl``, written
with the parser) and the new one (``evalset_new.jsonl``, written before the parser was
changed for it):

- ``dev`` and ``test`` accuracy (share of cases fully right: status, spec, intent,
  postprocess), each per language. The development part is the original set plus the
  new questions asked on 2024-06-12; the test part is the new questions asked on
  2025-11-19, a different "now", so relative periods resolve differently;
- ``new_set``: accuracy on the new questions alone, per split, language, class and batch
  (batch 1: written before any parser change for them; batch 2: written after those
  changes, before running any of its questions);
- on the original set as before: exact spec match on answerable questions, refusal
  accuracy, ambiguity detection, accuracy per intent;
- parse latency p50/p95 per question (the median of each question's ``repeats`` runs,
  then percentiles across questions). Pure CPU: no server.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from typing import Any

from .common import environment, median, percentile


def run(*, repeats: int = 3) -> dict[str, Any]:
    from onsflux.answer import Vocabulary, load_evalset, load_evalset_new, parse
    from onsflux.answer.evaluation import evaluate

    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    cases = load_evalset()
    vocab = Vocabulary.default()
    warm_start = time.perf_counter()
    parse("geração de Itaipu ontem", now=datetime.fromisoformat(cases[0]["now"]), vocabulary=vocab)
    first_call_s = time.perf_counter() - warm_start  # builds the plant index once

    report = evaluate(cases, vocab)
    summary = report.summary()
    new_cases = load_evalset_new()
    new = evaluate(new_cases, vocab)
    both = evaluate(cases + new_cases, vocab)
    splits = {"dev": both.accuracy(split="dev"), "test": both.accuracy(split="test")}
    new_set = {"all": new.accuracy(), "dev": new.accuracy(split="dev"),
               "test": new.accuracy(split="test"),
               "batch_1": new.accuracy(batch=1), "batch_2": new.accuracy(batch=2),
               "per_class": new.per_class()}

    per_question: list[float] = []
    for case in cases:
        now = datetime.fromisoformat(case["now"])
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            parse(case["question"], now=now, vocabulary=vocab)
            runs.append(time.perf_counter() - t0)
        per_question.append(median(runs))
    ms = [s * 1000 for s in per_question]
    goals = {"exact_spec_accuracy": 0.95, "refusal_accuracy": 1.0}
    return {
        "name": "nl",
        "environment": environment(),
        "repeats": repeats,
        "dev": splits["dev"],
        "test": splits["test"],
        "new_set": new_set,
        **{k: v for k, v in summary.items() if k != "failures"},
        "goals": goals,
        "goals_met": all((summary[k] or 0) >= v for k, v in goals.items()),
        "latency_ms": {
            "p50": round(percentile(ms, 50), 3),
            "p95": round(percentile(ms, 95), 3),
            "max": round(max(ms), 3),
            "mean": round(statistics.fmean(ms), 3),
            "first_call_ms": round(first_call_s * 1000, 1),
        },
        "failures": summary["failures"],
        "new_set_failures": new.summary()["failures"],
    }
