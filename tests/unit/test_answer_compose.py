"""The composer: numbers from the rows, formatted per language, confidence as documented."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from onsflux.answer.compose import compose, confidence, coverage_of, fmt_number, refuse
from onsflux.answer.parse import parse
from onsflux.query.result import QueryResult, Row

NOW = datetime(2024, 6, 12, 15, 0, tzinfo=UTC)
H = 3_600_000_000_000


def result(*rows: Row, served_from: str = "influxdb") -> QueryResult:
    return QueryResult(list(rows), False, served_from, "influxql", "SELECT ...")  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "pt", "en"), [
    (44100.5, "44.100", "44,100"), (1234567.891, "1.234.568", "1,234,568"),
    (12.345, "12,3", "12.3"), (0.8512, "0,85", "0.85"), (-3.5, "-3,50", "-3.50"),
])
def test_number_formatting(value: float, pt: str, en: str) -> None:
    assert fmt_number(value, "pt") == pt and fmt_number(value, "en") == en
    assert fmt_number(44100.5, "pt", 1) == "44.100,5" and fmt_number(44100.5, "en", 1) == "44,100.5"


def test_peak_names_value_time_in_brasilia_and_period() -> None:
    parsed = parse("Qual foi o pico de carga no Sudeste em janeiro de 2024?", now=NOW)
    assert parsed.status == "ok" and parsed.spec is not None
    t = int(datetime(2024, 1, 15, 18, 0, tzinfo=UTC).timestamp()) * 10**9  # 15:00 in Brasília
    out = compose(parsed, result(Row(t, "consumption_data", "demand_mw", 51234.0,
                                     {"region": "southeast"})))
    assert "51.234 MW" in out.answer and "15/01/2024 às 15:00" in out.answer
    assert "01/01/2024 00:00" in out.answer and "31/01/2024 23:59" in out.answer
    assert out.confidence == 1.0

    parsed = parse("What was the peak load in the Southeast in January 2024?", now=NOW)
    out = compose(parsed, result(Row(t, "consumption_data", "demand_mw", 51234.0,
                                     {"region": "southeast"})))
    assert "51,234 MW" in out.answer and "2024-01-15 at 15:00" in out.answer


def test_share_of_the_mix_sums_to_100() -> None:
    parsed = parse("Qual a participação de cada fonte na geração em 2023?", now=NOW)
    assert "share" in parsed.postprocess
    rows = [Row(0, "generation_data", "power_mw", v, {"source": s})
            for s, v in (("hydro", 600.0), ("wind", 300.0), ("solar", 100.0))]
    out = compose(parsed, result(*rows))
    assert "Hidrelétrica: 60,0 %" in out.answer and "Solar: 10,0 %" in out.answer
    assert sum(r.value or 0 for r in out.rows) == pytest.approx(1.0)


def test_no_rows_is_said_and_caps_confidence() -> None:
    parsed = parse("Qual foi o pico de carga no Sul ontem?", now=NOW)
    out = compose(parsed, result())
    assert out.answer.startswith("Não encontrei dados") and out.confidence <= 0.2


def test_confidence_rules() -> None:
    clear = parse("Qual foi o pico de carga no Sudeste em janeiro de 2024?", now=NOW)
    assert confidence(clear, result(Row(0, "", "", 1.0, {})), 1.0)[0] == 1.0
    defaulted = parse("Qual foi o pico de carga no Sudeste?", now=NOW)  # no period given
    score, parts = confidence(defaulted, result(Row(0, "", "", 1.0, {})), 1.0)
    assert score <= 0.85 and any("default" in p for p in parts)
    half, parts = confidence(clear, result(Row(0, "", "", 1.0, {})), 0.5)
    assert half == 0.5 and any("covers 50%" in p for p in parts)
    fb, _ = confidence(clear, result(Row(0, "", "", 1.0, {}), served_from="s3_fallback"), 1.0)
    assert fb == 0.95


def test_refusals_speak_the_questions_language() -> None:
    assert refuse(parse("Qual o preço do PLD amanhã?", now=NOW)).answer.startswith(
        "Não posso responder")
    amb = refuse(parse("Quanto gerou Angra ontem?", now=NOW))
    assert "Angra 1" in amb.answer and "Angra 2" in amb.answer and amb.confidence == 0.0


def test_coverage_of_spans() -> None:
    assert coverage_of([(0, 23 * H)], 0, 24 * H) == 1.0  # the last hourly sample covers its hour
    assert coverage_of([(0, 11 * H)], 0, 24 * H) == 0.5
    assert coverage_of([(0, 5 * H), (3 * H, 11 * H)], 0, 24 * H) == 0.5  # overlaps count once
    assert coverage_of([], 0, 24 * H) == 0.0


def test_daily_trend_is_in_brasilia_days_and_dst_is_warned_once() -> None:
    parsed = parse("evolução da carga do Sul em março de 2024", now=NOW)
    assert parsed.spec is not None and parsed.spec.every == "1d"
    midnight = int(datetime(2024, 3, 5, 3, 0, tzinfo=UTC).timestamp()) * 10**9  # 00:00 BRT
    out = compose(parsed, result(Row(midnight, "consumption_data", "demand_mw", 10.0,
                                     {"region": "south"})))
    # the window starts at Brasília midnight, so the day named is the window's own day
    assert "máximo 10,0 MW em 05/03/2024" in out.answer and "04/03" not in out.answer
    assert not [w for w in out.warnings if not w.startswith("confiança")]  # no DST note
    dst = parse("evolução da carga do Sul em fevereiro de 2018", now=NOW)
    assert dst.spec is not None and dst.spec.window_note is not None
    res = result(Row(midnight, "consumption_data", "demand_mw", 10.0, {"region": "south"}))
    warned = compose(dst, res).warnings  # the service asks the executor for no note
    assert len([w for w in warned if "verão" in w or "daylight" in w]) == 1
