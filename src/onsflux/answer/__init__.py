"""Questions in Portuguese or English → a QuerySpec, or a clear refusal. Pure: no I/O.

```
parse.py      parse(question, now=, vocabulary=) -> ParsedQuestion  (the front door)
timeexpr.py   time expressions -> [start, stop) in America/Sao_Paulo, trend grains
entities.py   measures, regions, sources, sectors, plants (exact, alias, fuzzy); Vocabulary
intents.py    intents, refusals (out of scope, injection) and the spec each intent builds
evalset.jsonl the evaluation set written with the parser (development part, now 2024-06-12)
evalset_new.jsonl 143 questions written before the parser was changed for them, split
              into a development part (now 2024-06-12) and a test part (now 2025-11-19)
```

The composer (answer text, confidence) builds on :class:`ParsedQuestion`: ``status``,
``spec`` (when ok), ``candidates`` (when ambiguous), ``reason`` (when unanswerable),
``warnings``, ``defaults_applied``, ``postprocess`` and ``signals``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from .entities import EntityMatch, PlantEntry, Vocabulary
from .intents import INTENTS
from .parse import Candidate, ParsedQuestion, Signals, TimeRange, detect_language, parse
from .timeexpr import DEFAULT_DAYS, grain_for, season_range

__all__ = [
    "DEFAULT_DAYS",
    "INTENTS",
    "Candidate",
    "EntityMatch",
    "ParsedQuestion",
    "PlantEntry",
    "Signals",
    "TimeRange",
    "Vocabulary",
    "detect_language",
    "grain_for",
    "load_evalset",
    "load_evalset_new",
    "parse",
    "season_range",
]


def load_evalset() -> list[dict[str, Any]]:
    """The packaged evaluation set, one dict per question (see ``evalset.jsonl``)."""
    text = resources.files(__package__).joinpath("evalset.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_evalset_new() -> list[dict[str, Any]]:
    """The questions written before the parser was changed for them (``evalset_new.jsonl``):
    each has ``split`` (dev | test), ``lang`` and ``class``."""
    text = resources.files(__package__).joinpath("evalset_new.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
