"""Calendar buckets, day filters, reductions, growth and partial buckets (issue 11 items 1–3,
issue 9 item 2). Expected values are worked out by hand from the rows given."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from onsflux.answer.buckets import apply_step, apply_steps, partial_keys
from onsflux.answer.compose import compose
from onsflux.answer.parse import parse
from onsflux.query.result import QueryResult, Row
from onsflux.query.spec import QuerySpec

BRT = ZoneInfo("America/Sao_Paulo")


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=BRT).timestamp()) * 1_000_000_000


def row(t: str, v: float, **tags: str) -> Row:
    return Row(ns(t), "consumption_data", "demand_mw", v, tags or {"region": "south"})


def spec(start: str, stop: str, every: str = "1d", agg: str = "mean") -> QuerySpec:
    return QuerySpec.parse({"measurement": "consumption_data", "fields": ["demand_mw"],
                            "start": start, "stop": stop, "timezone": "America/Sao_Paulo",
                            "every": every, "aggregate": agg})


def test_days_of_the_month_merge_into_local_calendar_months() -> None:
    s = spec("2024-01-01", "2024-03-01", agg="energy")
    rows = [row("2024-01-30", 1), row("2024-01-31", 2), row("2024-02-01", 4)]
    out = apply_step("bucket:month:sum", rows, s)
    assert [(r.time_ns, r.value) for r in out] == [(ns("2024-01-01"), 3), (ns("2024-02-01"), 4)]


def test_a_daily_peak_of_hourly_sums_keeps_the_peak_hour() -> None:
    s = spec("2024-06-03", "2024-06-05", every="1h", agg="sum")
    rows = [row("2024-06-03T10:00", 5), row("2024-06-03T19:00", 9), row("2024-06-04T08:00", 7),
            row("2024-06-04T20:00", 6)]
    out = apply_step("bucket:day:max", rows, s)
    assert [(r.time_ns, r.value) for r in out] == [(ns("2024-06-03T19:00"), 9),
                                                   (ns("2024-06-04T08:00"), 7)]


def test_weekend_and_weekday_filters_use_the_local_day() -> None:
    s = spec("2024-06-07", "2024-06-10")
    # 2024-06-07 is a Friday; midnight local is 03:00 UTC, still Friday/Saturday locally
    rows = [row("2024-06-07", 1), row("2024-06-08", 2), row("2024-06-09", 3)]
    assert [r.value for r in apply_step("days:weekend", rows, s)] == [2, 3]
    assert [r.value for r in apply_step("days:weekday", rows, s)] == [1]
    weekend = apply_steps(["days:weekend", "reduce:mean"], rows, s)
    assert [r.value for r in weekend] == [2.5]


def test_growth_ranks_the_change_between_first_and_last_whole_buckets() -> None:
    s = spec("2024-01-01", "2024-04-01", agg="energy")
    rows = [row("2024-01-01", 100, source="hydro"), row("2024-02-01", 90, source="hydro"),
            row("2024-03-01", 80, source="hydro"), row("2024-01-01", 10, source="wind"),
            row("2024-02-01", 30, source="wind"), row("2024-03-01", 60, source="wind")]
    steps = ["bucket:month:sum", "growth:top:1"]
    [top] = apply_step("growth:top:1", rows, s, steps)
    assert top.tags == {"source": "wind"} and top.value == 50
    [bottom] = apply_step("growth:bottom:1", rows, s, steps)
    assert bottom.tags == {"source": "hydro"} and bottom.value == -20


def test_growth_ignores_a_month_cut_by_the_period() -> None:
    s = spec("2024-01-01", "2024-03-15", agg="energy")  # March is cut at the 15th
    rows = [row("2024-01-01", 10, source="wind"), row("2024-02-01", 30, source="wind"),
            row("2024-03-01", 1, source="wind")]
    [top] = apply_step("growth:top:1", rows, s, ["bucket:month:sum", "growth:top:1"])
    assert top.value == 20  # February − January, not the half March


def test_buckets_cut_by_a_rolling_period_are_partial() -> None:
    s = spec("2024-06-09T15:30", "2024-06-12T15:30")
    rows = [row("2024-06-09", 10), row("2024-06-10", 50), row("2024-06-11", 40),
            row("2024-06-12", 5)]
    assert partial_keys(rows, s, []) == {rows[0].key(), rows[3].key()}


def test_buckets_with_fewer_samples_than_whole_ones_are_partial() -> None:
    s = spec("2024-06-03", "2024-06-10")
    rows = [row(f"2024-06-0{d}", 30 + d) for d in range(3, 10)]
    counts = [Row(r.time_ns, r.measurement, r.field, 24.0 if d != 9 else 10.0, r.tags)
              for d, r in zip(range(3, 10), rows, strict=True)]
    assert partial_keys(rows, s, [], counts) == {rows[-1].key()}


def test_a_trend_leaves_partial_buckets_out_of_max_min_and_mean_and_says_so() -> None:
    now = datetime(2024, 6, 12, 15, 30, tzinfo=BRT)
    parsed = parse("Carga diária do Sul nos últimos 3 dias", now=now)
    assert parsed.spec is not None and parsed.spec.every == "1d"
    rows = [row("2024-06-09", 10), row("2024-06-10", 50), row("2024-06-11", 40),
            row("2024-06-12", 5)]
    result = QueryResult(rows, False, "influxdb", "influxql", "SELECT ...")
    pt = compose(parsed, result)
    assert "2 janela(s) parcial(is)" in pt.answer
    assert "máximo 50,0 MW" in pt.answer and "mínimo 40,0 MW" in pt.answer
    assert "média 45,0 MW" in pt.answer  # (50 + 40) / 2, not the mean of all four
    assert any("parcial" in w for w in pt.warnings)
    en = compose(parse("Daily South load over the last 3 days", now=now), result)
    assert "2 partial window(s)" in en.answer and "minimum 40.0 MW" in en.answer


def test_month_by_month_answer_names_calendar_months() -> None:
    now = datetime(2024, 6, 12, 15, 30, tzinfo=BRT)
    parsed = parse("Carga média do Sul mês a mês em 2023", now=now)
    assert parsed.postprocess == ["bucket:month:mean"]
    rows = [row(f"2023-{m:02d}-01", 100.0 * m) for m in range(1, 13)]
    rows += [row("2023-01-02", 300.0)]  # January: mean of 100 and 300
    text = compose(parsed, QueryResult(rows, False, "influxdb", "influxql", "SELECT")).answer
    assert "meses do calendário" in text and "12 pontos" in text
    assert "mínimo 200,0 MW em 01/01/2023" in text


def test_a_top_one_ranking_names_the_winner() -> None:
    now = datetime(2024, 6, 12, 15, 30, tzinfo=BRT)
    parsed = parse("Qual região teve a maior carga média em maio de 2024?", now=now)
    assert parsed.spec is not None and parsed.spec.top == 1
    rows = [row("2024-05-01", 43_952.0, region="southeast")]
    text = compose(parsed, QueryResult(rows, False, "influxdb", "influxql", "SELECT")).answer
    assert "Sudeste/Centro-Oeste: 43.952 MW" in text


def test_growth_answers_say_what_changed_and_between_which_buckets() -> None:
    now = datetime(2024, 6, 12, 15, 30, tzinfo=BRT)
    parsed = parse("Qual fonte mais cresceu em 2023?", now=now)
    assert parsed.postprocess == ["bucket:month:sum", "growth:top:1"]
    rows = [Row(ns(f"2023-{m:02d}-{d:02d}"), "generation_data", "power_mw", v, {"source": s})
            for s, base in (("wind", 10.0), ("hydro", 500.0))
            for m in (1, 12) for d in (1, 2)
            for v in [base * (3 if (m == 12 and s == "wind") else 1)]]
    text = compose(parsed, QueryResult(rows, False, "influxdb", "influxql", "SELECT")).answer
    # wind: December 2 × 30 − January 2 × 10 = +40; hydro: 0
    assert text.startswith("Variação da geração entre o primeiro e o último mês completo")
    assert "1. Eólica: 40,0 MWh" in text


def test_ranking_by_peak_ranks_each_groups_peak_hour_not_its_total() -> None:
    now = datetime(2024, 6, 12, 15, 30, tzinfo=BRT)
    parsed = parse("Qual região teve o maior pico de geração eólica em 2023?", now=now)
    assert parsed.spec is not None and parsed.spec.every == "1h"
    assert parsed.spec.limit >= 8760  # every hour of the year comes back for each region
    hours = [f"2023-07-01T{h:02d}:00" for h in range(4)]
    rows = [Row(ns(t), "generation_data", "power_mw", v, {"region": r})
            for r, values in (("northeast", [10.0, 10.0, 10.0, 10.0]), ("south", [1.0, 1.0, 1.0, 30.0]))
            for t, v in zip(hours, values, strict=True)]
    text = compose(parsed, QueryResult(rows, False, "influxdb", "influxql", "SELECT")).answer
    assert "1. Sul: 30,0 MW" in text and "Nordeste" not in text  # NE has the larger total
