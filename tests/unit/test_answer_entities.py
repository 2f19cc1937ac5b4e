"""Entities: regions, sources, plants (exact, alias, fuzzy, ambiguous) and the Vocabulary."""

from __future__ import annotations

from datetime import datetime

import pytest

from onsflux.answer import PlantEntry, Vocabulary, parse
from onsflux.answer.timeexpr import LOCAL

NOW = datetime(2024, 6, 12, 15, 30, tzinfo=LOCAL)


def where(question: str, vocabulary: Vocabulary | None = None) -> dict[str, list[str]]:
    p = parse(question, now=NOW, vocabulary=vocabulary)
    assert p.status == "ok", (question, p.reason, p.candidates)
    assert p.spec is not None
    return {k: sorted(v) for k, v in p.spec.where.items()}


@pytest.mark.parametrize(("question", "region"), [
    ("carga do Sudeste ontem", "southeast"), ("carga do Sudeste/Centro-Oeste ontem", "southeast"),
    ("carga do SE/CO ontem", "southeast"), ("carga do SE ontem", "southeast"),
    ("load in the Southeast yesterday", "southeast"), ("carga do Centro-Oeste ontem", "southeast"),
    ("carga do Nordeste ontem", "northeast"), ("carga do NE ontem", "northeast"),
    ("load in the Northeast yesterday", "northeast"), ("carga do Norte ontem", "north"),
    ("carga do Sul ontem", "south"), ("load in the South yesterday", "south"),
    ("carga do subsistema Sul ontem", "south"),
])
def test_regions(question: str, region: str) -> None:
    assert where(question) == {"region": [region]}


@pytest.mark.parametrize("question", ["carga do Brasil ontem", "carga do SIN ontem",
                                      "load of the whole system yesterday", "carga ontem"])
def test_whole_system_load_reads_the_sin_series(question: str) -> None:
    assert where(question) == {"region": ["sin"]}


@pytest.mark.parametrize("question", ["geração do Brasil ontem", "geração do SIN ontem",
                                      "total generation yesterday"])
def test_whole_system_generation_has_no_region_filter(question: str) -> None:
    assert where(question) == {}


def test_lower_case_se_is_a_word_not_a_region() -> None:
    assert where("se a carga do Sul subiu ontem")["region"] == ["south"]


@pytest.mark.parametrize(("word", "source"), [
    ("hidrelétrica", "hydro"), ("hídrica", "hydro"), ("UHE", "hydro"), ("hydro", "hydro"),
    ("térmica", "thermal"), ("UTE", "thermal"), ("thermal", "thermal"),
    ("eólica", "wind"), ("wind", "wind"), ("solar", "solar"), ("fotovoltaica", "solar"),
    ("nuclear", "nuclear"),
])
def test_sources(word: str, source: str) -> None:
    assert where(f"geração {word} ontem") == {"source": [source]}


@pytest.mark.parametrize(("question", "plant", "kind"), [
    ("geração de Itaipu ontem", "itaipu", "exact"),
    ("geração de Itaipú ontem", "itaipu", "exact"),
    ("geração de ITAIPU ontem", "itaipu", "exact"),
    ("geração de Tucuruí ontem", "tucurui", "exact"),
    ("geração de Tucurui ontem", "tucurui", "exact"),
    ("Tucurui dam output yesterday", "tucurui", "alias"),
    ("Belo Monte generation yesterday", "belo_monte", "exact"),
    ("geração de Xingo ontem", "xingo", "exact"),
    ("geração de Foz do Areia ontem", "governador_bento_munhoz_da_rocha_netto", "alias"),
    ("geração de Itaipi ontem", "itaipu", "fuzzy"),
    ("Belo Monti generation yesterday", "belo_monte", "fuzzy"),
    ("geração de sobradino ontem", "sobradinho", "fuzzy"),
    ("geração da Norte Fluminense ontem", "norte_fluminense", "exact"),
    ("geração de Alto Sertão ontem", "conjunto_eolico_alto_sertao", "exact"),
])
def test_plants(question: str, plant: str, kind: str) -> None:
    p = parse(question, now=NOW)
    assert p.status == "ok" and p.spec is not None
    assert p.spec.where == {"plant": (plant,)}
    [match] = [e for e in p.entities if e.kind == "plant"]
    assert match.match == kind
    if kind == "fuzzy":
        assert 80 <= match.score < 100
        assert p.signals.fuzzy_scores == [match.score]
        assert any("Itaipu" in w or "Belo Monte" in w or "Sobradinho" in w for w in p.warnings)


@pytest.mark.parametrize(("question", "slugs"), [
    ("geração de Angra ontem", {"angra_1", "angra_2"}),
    ("Santo Antônio generation yesterday", {"santo_antonio", "santo_antonio_do_jari"}),
    ("geração de Paulo Afonso ontem", {"paulo_afonso_iv", "paulo_afonso_i_ii_e_iii"}),
])
def test_ambiguous_plants_offer_candidates_with_specs(question: str, slugs: set[str]) -> None:
    p = parse(question, now=NOW)
    assert p.status == "ambiguous" and p.spec is None
    assert {c.value for c in p.candidates} == slugs
    for c in p.candidates:
        assert c.kind == "plant" and c.spec is not None and c.spec.where == {"plant": (c.value,)}
    assert p.reason


def test_context_narrows_an_ambiguous_name() -> None:
    assert where("MMGD generation in the Northeast yesterday") == {"plant": ["mmgd_nordeste"]}
    p = parse("MMGD generation in the Northeast yesterday", now=NOW)
    assert p.signals.narrowed_by_context == 1


def test_full_names_are_not_ambiguous() -> None:
    assert where("geração de Santo Antônio do Jari ontem") == {"plant": ["santo_antonio_do_jari"]}
    assert where("geração de Angra 2 ontem") == {"plant": ["angra_2"]}


def test_states_filter_generation() -> None:
    assert where("geração eólica na Bahia ontem") == {"source": ["wind"], "state": ["ba"]}
    assert where("geração no Rio Grande do Sul ontem") == {"state": ["rs"]}


def test_vocabulary_from_tag_values() -> None:
    vocab = Vocabulary.from_tag_values(
        {"plant": ["itaipu", "usina_nova_esperanca"], "line": ["north_southeast"]},
        plants=[PlantEntry("usina_nova_esperanca", "Usina Nova Esperança", "south", "wind")])
    assert set(vocab.plants) == {"itaipu", "usina_nova_esperanca"}
    assert vocab.plants["itaipu"].name == "Itaipu"
    assert where("geração de Nova Esperança ontem", vocab) == {"plant": ["usina_nova_esperanca"]}
    # a plant the vocabulary does not hold never becomes a filter
    p = parse("geração de Tucuruí ontem", now=NOW, vocabulary=vocab)
    assert p.spec is None or "plant" not in p.spec.where


def test_vocabulary_names_slugs_without_entries() -> None:
    vocab = Vocabulary.from_tag_values({"plant": ["usina_x_grande"]})
    assert vocab.plants["usina_x_grande"].name == "Usina X Grande"


def test_default_vocabulary_holds_every_sample_plant() -> None:
    from onsflux.plants import PLANTS

    vocab = Vocabulary.default()
    assert set(vocab.plants) == {p.slug for p in PLANTS}
    assert vocab.plants["tucurui"].region == "north" and vocab.plants["tucurui"].source == "hydro"
