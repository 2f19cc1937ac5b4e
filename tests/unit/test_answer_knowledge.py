"""The local knowledge base: passages found by BM25, accent- and language-tolerant."""

from pathlib import Path

from onsflux.answer.knowledge import KnowledgeBase, split_passages, tokens


def test_shipped_documents_load_and_answer_portuguese_and_english() -> None:
    kb = KnowledgeBase.from_folder()
    assert len({p.document for p in kb.passages}) >= 5
    [top, *_] = kb.search("o que é carga de energia em MWmed?")
    assert top.document == "carga-de-energia.md" and top.score > 0
    [top, *_] = kb.search("interchange flow between subsystems sign")
    assert top.document == "intercambio.md"
    # accents folded: "hidreletrica" finds "hidrelétrica"
    assert any(p.document == "subsistemas-e-regioes.md" for p in kb.search("hidreletrica UHE"))


def test_no_match_returns_nothing_rather_than_noise() -> None:
    kb = KnowledgeBase.from_folder()
    assert kb.search("zzzz qqqq") == []
    assert kb.search("de da do the of") == []  # only stop words


def test_custom_folder_and_passages_under_headings(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title A\n\nfirst paragraph about itaipu\n\nsecond about wind")
    (tmp_path / "ignored.bin").write_bytes(b"\x00")
    kb = KnowledgeBase.from_folder(tmp_path)
    assert [(p.title, p.text) for p in kb.passages] == [
        ("Title A", "first paragraph about itaipu"), ("Title A", "second about wind")]
    assert kb.search("Itaipú")[0].text == "first paragraph about itaipu"


def test_tokens_fold_and_drop_stop_words() -> None:
    assert tokens("A Geração Hidrelétrica do Nordeste") == ["geracao", "hidreletrica", "nordeste"]
    assert split_passages("x.md", "") == []
