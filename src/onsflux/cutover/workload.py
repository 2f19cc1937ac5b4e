"""The replayed workload of the rehearsal, the benchmark and the tests: the three templates
of the old platform over several ranges, plus the evaluation questions (``evalset.jsonl``)
asked as of the end of the data, so their relative periods ("ontem", "last week") fall
inside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

from ..query.spec import QuerySpec
from ..query.templates import TEMPLATES


@dataclass(frozen=True)
class Item:
    kind: str                       # template | question
    label: str
    spec: QuerySpec | None = None
    question: str | None = None


def template_items(start: datetime, stop: datetime, *, variants: int = 8) -> list[Item]:
    """Each template over ``variants`` ranges ending at ``stop`` (1 day, 2 days, …): distinct
    specs, so a canary split has something to split."""
    out: list[Item] = []
    for name, build in TEMPLATES.items():
        for k in range(1, variants + 1):
            a = max(start, stop - timedelta(days=k))
            spec = build(a.isoformat(), stop.isoformat())
            out.append(Item("template", f"{name} {k}d", spec=spec))
    return out


def question_items(limit: int | None = None) -> list[Item]:
    """The evaluation questions the parser is expected to answer (status ``ok``)."""
    text = (resources.files("onsflux.answer") / "evalset.jsonl").read_text(encoding="utf-8")
    out: list[Item] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        if case.get("expect", {}).get("status") == "ok":
            out.append(Item("question", case["id"], question=case["question"]))
    return out if limit is None else out[:limit]


def workload(start: datetime, stop: datetime, *, questions: int | None = 60) -> list[Item]:
    """Templates and questions interleaved."""
    a, b = template_items(start, stop), question_items(questions)
    out: list[Item] = []
    for i in range(max(len(a), len(b))):
        if i < len(a):
            out.append(a[i])
        if i < len(b):
            out.append(b[i])
    return out
