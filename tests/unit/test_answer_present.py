"""The display block: chart kind, titles, axis titles with units, people's names, columns."""

from __future__ import annotations

from datetime import UTC, datetime

from onsflux.answer.parse import parse
from onsflux.answer.present import candidate_question, display, series_key
from onsflux.query.result import Row

NOW = datetime(2024, 6, 12, 15, 0, tzinfo=UTC)
H = 3_600_000_000_000


def test_daily_trend_by_source_is_a_line_with_brasilia_time_and_units() -> None:
    parsed = parse("Geração por fonte por dia em março de 2024", now=NOW)
    assert parsed.status == "ok" and parsed.spec is not None and parsed.spec.every == "1d"
    rows = [Row(d * 24 * H, "generation_data", "power_mw", 10.0, {"source": s})
            for d in range(3) for s in ("hydro", "wind")]
    d = display(parsed, rows)
    assert d is not None and d["chart"] == "line" and d["locale"] == "pt-BR"
    assert d["value_label"] == "Energia gerada (MWh)" and d["unit"] == "MWh"
    assert "horário de Brasília" in d["time_label"] and "America/Sao_Paulo" in d["time_label"]
    assert d["title"].startswith("Geração") and "01/03/2024 a 31/03/2024" in d["title"]
    assert [s["label"] for s in d["series"]] == ["Hidrelétrica", "Eólica"]
    assert [c["label"] for c in d["columns"]] == [
        "Início da janela (horário de Brasília)", "Fonte", "Energia gerada (MWh)"]


def test_ratio_fields_are_shown_as_percent() -> None:
    parsed = parse("What was the average capacity factor of wind in the Northeast in May 2024?",
                   now=NOW)
    assert parsed.status == "ok"
    d = display(parsed, [Row(0, "generation_data", "capacity_factor", 0.41, {})])
    assert d is not None and d["unit"] == "%" and d["scale"] == 100.0
    assert d["value_label"] == "Capacity factor (%)" and d["chart"] == "none"
    # the filters the rows do not carry still name the row (table and CSV)
    assert d["fixed_tags"] == {"region": "northeast", "source": "wind"}
    assert d["tag_values"]["region"] == {"northeast": "Northeast"}
    assert d["tag_values"]["source"] == {"wind": "Wind"}


def test_ranking_is_bars_named_for_people() -> None:
    parsed = parse("Quais as 3 usinas que mais geraram em maio de 2024?", now=NOW)
    assert parsed.status == "ok"
    rows = [Row(0, "generation_data", "power_mw", v, {"plant": p})
            for p, v in (("itaipu", 3.0), ("belo_monte", 2.0), ("tucurui", 1.0))]
    d = display(parsed, rows, names={"tucurui": "Tucuruí"})
    assert d is not None and d["chart"] == "bar"
    assert [s["label"] for s in d["series"]] == ["Itaipu", "Belo Monte", "Tucuruí"]
    assert "3 maiores" in d["title"]
    assert d["series"][0]["key"] == series_key({"plant": "itaipu"}) == "plant=itaipu"


def test_share_and_refusals() -> None:
    parsed = parse("Qual a participação de cada fonte na geração em 2023?", now=NOW)
    rows = [Row(0, "generation_data", "power_mw", v, {"source": s})
            for s, v in (("hydro", 600.0), ("wind", 300.0))]
    d = display(parsed, rows)
    assert d is not None and d["chart"] == "share"
    assert d["value_label"] == "Participação no total (%)"
    assert d["table_value_label"] == "Energia gerada (MWh)"
    assert display(parse("Qual o preço da energia amanhã?", now=NOW), []) is None


def test_candidates_re_ask_with_the_choice_in_place() -> None:
    parsed = parse("Quanto gerou Angra na semana passada?", now=NOW)
    assert parsed.status == "ambiguous"
    asked = [candidate_question(parsed, c) for c in parsed.candidates]
    assert asked == ["Quanto gerou Angra 1 na semana passada?",
                     "Quanto gerou Angra 2 na semana passada?"]
    assert all(parse(q, now=NOW).status == "ok" for q in asked)
