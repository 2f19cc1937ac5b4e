"""Time expressions → [start, stop) in America/Sao_Paulo (table-driven, both languages)."""

from __future__ import annotations

from datetime import datetime

import pytest

from onsflux.answer.timeexpr import LOCAL, find_time, grain_for, season_range
from onsflux.catalog import fold

NOW = datetime(2024, 6, 12, 15, 30, tzinfo=LOCAL)  # a Wednesday


def d(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL)


N = "2024-06-12T15:30"

CASES = [
    ("ontem", "2024-06-11", "2024-06-12"),
    ("yesterday", "2024-06-11", "2024-06-12"),
    ("anteontem", "2024-06-10", "2024-06-11"),
    ("hoje", "2024-06-12", N),
    ("today", "2024-06-12", N),
    ("semana passada", "2024-06-03", "2024-06-10"),
    ("last week", "2024-06-03", "2024-06-10"),
    ("esta semana", "2024-06-10", N),
    ("this week", "2024-06-10", N),
    ("nos últimos 7 dias", "2024-06-05T15:30", N),
    ("in the last 7 days", "2024-06-05T15:30", N),
    ("past 30 days", "2024-05-13T15:30", N),
    ("últimas 24 horas", "2024-06-11T15:30", N),
    ("last two weeks", "2024-05-29T15:30", N),
    ("últimos 3 meses", "2024-03-12T15:30", N),
    ("na última semana", "2024-06-05T15:30", N),
    ("past month", "2024-05-13T15:30", N),
    ("mês passado", "2024-05-01", "2024-06-01"),
    ("last month", "2024-05-01", "2024-06-01"),
    ("este mês", "2024-06-01", N),
    ("this year", "2024-01-01", N),
    ("este ano", "2024-01-01", N),
    ("ano passado", "2023-01-01", "2024-01-01"),
    ("em janeiro de 2024", "2024-01-01", "2024-02-01"),
    ("January 2024", "2024-01-01", "2024-02-01"),
    ("jan/2024", "2024-01-01", "2024-02-01"),
    ("em março", "2024-03-01", "2024-04-01"),
    ("em dezembro", "2023-12-01", "2024-01-01"),
    ("Q1 2024", "2024-01-01", "2024-04-01"),
    ("primeiro trimestre de 2024", "2024-01-01", "2024-04-01"),
    ("1º trimestre de 2024", "2024-01-01", "2024-04-01"),
    ("fourth quarter of 2023", "2023-10-01", "2024-01-01"),
    ("primeiro semestre de 2023", "2023-01-01", "2023-07-01"),
    ("first half of 2024", "2024-01-01", N),
    ("entre 1 e 15 de março de 2024", "2024-03-01", "2024-03-16"),
    ("de 1 a 15 de março de 2024", "2024-03-01", "2024-03-16"),
    ("from March 1 to March 15, 2024", "2024-03-01", "2024-03-16"),
    ("between 1 and 15 March 2024", "2024-03-01", "2024-03-16"),
    ("entre 2024-02-01 e 2024-02-10", "2024-02-01", "2024-02-11"),
    ("de 10/01/2024 a 20/01/2024", "2024-01-10", "2024-01-21"),
    ("5 de março de 2024", "2024-03-05", "2024-03-06"),
    ("March 5, 2024", "2024-03-05", "2024-03-06"),
    ("2024-03-05", "2024-03-05", "2024-03-06"),
    ("no verão de 2024", "2023-12-21", "2024-03-21"),
    ("summer 2024", "2023-12-21", "2024-03-21"),
    ("inverno de 2023", "2023-06-21", "2023-09-23"),
    ("primavera de 2023", "2023-09-23", "2023-12-21"),
    ("autumn 2023", "2023-03-21", "2023-06-21"),
    ("desde 2023", "2023-01-01", N),
    ("since 2023", "2023-01-01", N),
    ("desde janeiro de 2024", "2024-01-01", N),
    ("em 2023", "2023-01-01", "2024-01-01"),
    ("in 2023", "2023-01-01", "2024-01-01"),
    ("em 2024", "2024-01-01", N),
]


@pytest.mark.parametrize(("text", "start", "stop"), CASES, ids=[c[0] for c in CASES])
def test_time_expressions(text: str, start: str, stop: str) -> None:
    m = find_time(fold(text), NOW)
    assert m is not None, text
    assert not m.future
    assert (m.start, m.stop) == (d(start), d(stop))
    assert m.start.tzinfo is not None and m.start.utcoffset() == d(start).utcoffset()


@pytest.mark.parametrize("text", ["amanhã", "tomorrow", "próxima semana", "next month",
                                  "em 2030", "ano que vem"])
def test_future_periods_are_flagged(text: str) -> None:
    m = find_time(fold(text), NOW)
    assert m is not None and m.future


@pytest.mark.parametrize("text", ["geração de Itaipu", "carga do Sul", "top 5 usinas",
                                  "may I ask about wind", "5 maiores usinas"])
def test_no_time_expression(text: str) -> None:
    assert find_time(fold(text), NOW) is None


def test_longest_expression_wins_and_span_covers_it() -> None:
    text = fold("geração entre 1 e 15 de março de 2024 no Nordeste")
    m = find_time(text, NOW)
    assert m is not None and text[m.span[0]:m.span[1]] == "entre 1 e 15 de marco de 2024"
    assert m.kind == "day_range"


def test_last_week_from_a_monday_and_a_sunday() -> None:
    monday = datetime(2024, 6, 10, 8, 0, tzinfo=LOCAL)
    sunday = datetime(2024, 6, 16, 23, 0, tzinfo=LOCAL)
    for now in (monday, sunday):
        m = find_time("semana passada", now)
        assert m is not None and (m.start, m.stop) == (d("2024-06-03"), d("2024-06-10"))


def test_summer_without_year_in_january_is_the_current_one() -> None:
    now = datetime(2025, 1, 10, 9, 0, tzinfo=LOCAL)
    m = find_time("neste verao", now)
    assert m is not None and (m.start, m.stop) == (d("2024-12-21"), now)


def test_season_definition() -> None:
    assert season_range("summer", 2024) == (d("2023-12-21"), d("2024-03-21"))
    assert season_range("winter", 2024) == (d("2024-06-21"), d("2024-09-23"))


def test_an_impossible_day_is_invalid_not_its_month() -> None:
    """Issue 11: a named period that cannot be read is refused, never replaced by another."""
    for text in ("31 de fevereiro de 2024", "February 30, 2025", "dia 45 de março"):
        m = find_time(fold(text), NOW)
        assert m is not None and m.invalid and m.kind == "invalid", text


@pytest.mark.parametrize(("hours", "grain"), [(1, "1h"), (24, "1h"), (48, "1h"), (49, "1d"),
                                              (24 * 92, "1d"), (24 * 93, "7d"), (24 * 365, "7d")])
def test_grain(hours: int, grain: str) -> None:
    from datetime import timedelta
    assert grain_for(NOW - timedelta(hours=hours), NOW) == grain
