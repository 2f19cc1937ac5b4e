"""Coverage measured on the data (``answer.service.data_coverage``) and the deductions
said in the question's language (``answer.compose.deductions``). Pure: a recording runner
stands in for the executor, so the probe query itself is checked too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from onsflux.answer.compose import compose, deductions
from onsflux.answer.parse import parse
from onsflux.answer.service import data_coverage
from onsflux.query.result import QueryResult, Row
from onsflux.query.spec import QuerySpec

H = 3_600_000_000_000
NOW = datetime(2024, 6, 12, 15, 30, tzinfo=UTC)


class Runner:
    """Answers a count probe with one row per hour listed in ``hours_with_data``."""

    def __init__(self, hours_with_data: list[int]) -> None:
        self.hours = hours_with_data
        self.specs: list[QuerySpec] = []

    def run(self, spec: QuerySpec, *, window_note: bool = True) -> QueryResult:
        self.specs.append(spec)
        rows = [Row(spec.start_ns + h * H, spec.measurement, spec.fields[0], 1.0, {})
                for h in self.hours if spec.start_ns + h * H < spec.stop_ns]
        return QueryResult(rows, False, "influxdb", "influxql", "q")


def spec(start: datetime, stop: datetime) -> QuerySpec:
    return QuerySpec.parse({"measurement": "consumption_data", "fields": ["demand_mw"],
                            "where": {"region": ["south"]}, "aggregate": "max",
                            "start": start.isoformat(), "stop": stop.isoformat()})


def test_coverage_counts_hours_with_data_up_to_now() -> None:
    start = NOW.replace(minute=0) - timedelta(hours=48)
    runner = Runner(list(range(0, 48, 2)))  # every other hour of the past 48
    share = data_coverage(runner, spec(start, NOW + timedelta(days=3)), NOW)
    assert share == pytest.approx(0.5)
    probe = runner.specs[0]
    # counted per hour, over every series the filters select, stopping at the last whole hour
    assert probe.aggregate == "count" and probe.every == "1h" and probe.group_by == ()
    assert probe.where == {"region": ("south",)}
    assert probe.stop_ns == int(NOW.replace(minute=0).timestamp()) * 10**9


def test_long_periods_are_counted_per_day_and_future_periods_not_at_all() -> None:
    start = NOW - timedelta(days=365)
    runner = Runner([24 * d for d in range(100)])
    share = data_coverage(runner, spec(start, NOW), NOW)
    assert runner.specs[0].every == "1d" and share == pytest.approx(100 / 365)
    assert data_coverage(Runner([]), spec(NOW + timedelta(days=1), NOW + timedelta(days=2)),
                         NOW) is None


@pytest.mark.parametrize(("question", "word"), [
    ("Qual foi a geração eólica no Nordeste?", "confiança"),     # no period: a default
    ("How much wind generation in the Northeast?", "confidence"),
])
def test_every_deduction_is_a_warning_in_the_questions_language(question: str,
                                                                word: str) -> None:
    parsed = parse(question, now=NOW)
    assert parsed.spec is not None
    result = QueryResult([Row(0, "generation_data", "power_mw", 1.0, {})], False,
                         "s3_fallback", "influxql", "q")
    score, parts, warnings = deductions(parsed, result, 0.5)
    explained = [w for w in warnings if w.startswith(word)]
    # one warning per deduction: each default, the coverage, the fallback
    assert len(explained) == parsed.signals.defaults + 2 and parsed.signals.defaults >= 1
    assert len(parts) == 3 and score < 0.5
    other = "confidence" if word == "confiança" else "confiança"
    assert not any(w.startswith(other) for w in warnings)
    composed = compose(parsed, result, coverage=0.5)
    assert all(w in composed.warnings for w in explained)


def test_no_deduction_no_warning() -> None:
    parsed = parse("Qual foi o pico de carga no Sul em janeiro de 2024?", now=NOW)
    result = QueryResult([Row(0, "consumption_data", "demand_mw", 1.0, {})], False,
                         "influxdb", "influxql", "q")
    score, parts, warnings = deductions(parsed, result, 1.0)
    assert (score, parts, warnings) == (1.0, [], [])


