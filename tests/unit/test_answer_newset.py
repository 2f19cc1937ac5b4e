"""The questions written before the parser was changed for them (``evalset_new.jsonl``).

Each item states what an analyst expects and asserts it: the status, and for answers the
whole spec (measurement, field, filters, period, window, aggregate, grouping, top/bottom),
the intent, the postprocess steps and whether the default period was used; refusals and
ambiguities are asserted explicitly. The set has a development part (asked on
2024-06-12) and a test part (asked on 2025-11-19), so relative periods resolve
differently in each.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from onsflux.answer import load_evalset_new, parse
from onsflux.answer.evaluation import normalized_spec

CASES = load_evalset_new()


def test_the_set_is_large_bilingual_and_split_by_reference_date() -> None:
    assert len(CASES) >= 100
    assert len({c["id"] for c in CASES}) == len(CASES)
    langs = Counter(c["lang"] for c in CASES)
    assert 0.4 <= langs["pt"] / len(CASES) <= 0.6
    nows = {c["split"]: set() for c in CASES}  # type: dict[str, set[str]]
    for c in CASES:
        nows[c["split"]].add(c["now"])
    assert set(nows) == {"dev", "test"} and not nows["dev"] & nows["test"]
    classes = Counter(c["class"] for c in CASES)
    for cls in ("subperiod", "breakdown", "ranking", "bad_period", "scope_in", "scope_out"):
        assert classes[cls] >= 8, cls
    for split in ("dev", "test"):
        for lang in ("pt", "en"):
            assert sum(c["split"] == split and c["lang"] == lang for c in CASES) >= 25


def _id(case: dict[str, Any]) -> str:
    return f"{case['id']}-{case['split']}-{case['class']}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_new_question(case: dict[str, Any]) -> None:
    exp = case["expect"]
    got = parse(case["question"], now=datetime.fromisoformat(case["now"]))
    assert got.status == exp["status"], (got.reason, got.spec)
    if exp["status"] == "unanswerable":
        assert got.spec is None and got.reason, "a refusal says why"
    elif exp["status"] == "ambiguous":
        assert sorted(c.value for c in got.candidates) == sorted(exp["candidates"])
        assert got.spec is None
    else:
        assert got.spec is not None
        assert normalized_spec(got.spec) == normalized_spec(exp["spec"])
        assert got.intent == exp["intent"]
        ours = ("days:", "bucket:", "growth:", "reduce:", "rank:")
        if "postprocess" in exp:
            assert got.postprocess == exp["postprocess"]
        else:  # no day filter, calendar bucket or growth unless the case names one
            assert not [p for p in got.postprocess if p.startswith(ours)]
        assert got.time_range is not None
        assert got.time_range.defaulted == exp.get("defaulted", False)


# ----------------------------------------------------------------- refusal by scope

IN_SCOPE_WITH_COMMON_WORDS = [
    ("Qual a tensão da linha Norte-Sudeste ontem?", "voltage_kv"),
    ("voltage of the South to Southeast line last week", "voltage_kv"),
    ("Carga do Sudeste, onde fica a capital, ontem", "demand_mw"),
    ("Hydro generation in the Southeast in 2021, the drought year", "power_mw"),
    ("A geração eólica do Nordeste ficou abaixo do esperado em maio de 2024?", "power_mw"),
    ("Was Itaipu's output lower than expected last week?", "power_mw"),
    ("Qual o nível da carga do Sul ontem?", "demand_mw"),
    ("What level did the Northeast load reach yesterday?", "demand_mw"),
    ("Carga do Norte durante o apagão de 15 de agosto de 2023", "demand_mw"),
    ("Consumo dos clientes residenciais do Sul no mês passado", "demand_mw"),
    ("Why did the South load drop yesterday?", "demand_mw"),
]


@pytest.mark.parametrize(("question", "field"), IN_SCOPE_WITH_COMMON_WORDS)
def test_common_words_do_not_refuse_a_catalog_question(question: str, field: str) -> None:
    got = parse(question, now=datetime.fromisoformat("2024-06-12T15:30:00-03:00"))
    assert got.status == "ok", got.reason
    assert got.spec is not None and got.spec.fields == (field,)


@pytest.mark.parametrize(("question", "code_words"), [
    ("Qual a capital do Brasil?", "não é sobre os dados"),
    ("What is expected for tomorrow?", "forecasts"),
    ("Qual o preço da energia gerada por Itaipu ontem?", "Preços"),
    ("Forecast of the Northeast load for next week", "forecasts"),
    ("Quanto choveu no Sul ontem?", "meteorológicos"),
    ("Wind generation in Argentina last year", "Brazil"),
])
def test_out_of_scope_questions_are_refused_with_their_reason(question: str,
                                                              code_words: str) -> None:
    got = parse(question, now=datetime.fromisoformat("2024-06-12T15:30:00-03:00"))
    assert got.status == "unanswerable"
    assert code_words in (got.reason or "")


def test_why_questions_get_the_numbers_and_say_the_data_holds_no_causes() -> None:
    got = parse("Por que a carga do Sul caiu ontem?",
                now=datetime.fromisoformat("2024-06-12T15:30:00-03:00"))
    assert got.status == "ok"
    assert any("não as causas" in w for w in got.warnings)


# ----------------------------------------------------------------- periods that cannot be answered

NOW = datetime.fromisoformat("2024-06-12T15:30:00-03:00")


@pytest.mark.parametrize(("question", "words"), [
    ("Geração de Itaipu em 1850", ["7 anos", "14/06/2017", "1850"]),
    ("Load in the South in 2015", ["7 years", "2017-06-14"]),
    ("Carga do Sul em março de 2031", ["ainda não começou", "marco de 2031"]),
    ("Northeast load during Carnival 2024", ["did not understand", "carnival"]),
    ("Geração de Jirau na semana 60 de 2024", ["Não entendi o período", "semana 60"]),
    ("Carga do Sul em 30 de fevereiro de 2024", ["não é uma data que exista"]),
])
def test_named_periods_that_cannot_be_answered_are_refused_with_the_reason(
        question: str, words: list[str]) -> None:
    got = parse(question, now=NOW)
    assert got.status == "unanswerable" and got.spec is None
    for w in words:
        assert w in (got.reason or ""), got.reason


def test_a_period_partly_before_retention_starts_where_the_data_is_kept() -> None:
    got = parse("Geração de Itaipu desde 2010", now=NOW)
    assert got.status == "ok" and got.time_range is not None
    assert got.time_range.start.date().isoformat() == "2017-06-14"
    assert any("7 anos" in w for w in got.warnings)


def test_the_default_period_only_when_none_is_named_and_the_answer_says_so() -> None:
    got = parse("Qual a carga do Sul?", now=NOW)
    assert got.status == "ok" and got.time_range is not None and got.time_range.defaulted
    assert any("nenhum período" in w for w in got.warnings)
    named = parse("Qual a carga do Sul no Carnaval?", now=NOW)
    assert named.status == "unanswerable"


def test_since_a_month_without_year_starts_at_its_latest_occurrence() -> None:
    got = parse("Carga média do SIN mês a mês desde outubro", now=NOW)
    assert got.status == "ok" and got.time_range is not None
    assert got.time_range.start.isoformat() == "2023-10-01T00:00:00-03:00"
    assert got.time_range.stop == NOW and got.postprocess == ["bucket:month:mean"]
