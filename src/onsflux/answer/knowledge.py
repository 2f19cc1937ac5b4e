"""The local knowledge base: Markdown/text documents about the data, searched with BM25.

Documents are split into passages at headings and blank-line paragraphs, so a citation
points at the few lines that matter. Text is folded (lowercase, accents removed) and
stop words of Portuguese and English are dropped before indexing, so "hidrelétrica" and
"hidreletrica" meet. ``bm25s`` does the ranking (sparse matrices, no model to download);
an embedding model would need weights from a hub, which this platform cannot fetch at run
time, so retrieval is lexical by design.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import bm25s

from ..catalog import fold

_STOP = frozenset(fold(w) for w in """
a o as os de da do das dos e em no na nos nas um uma uns umas por para com sem que se
ao aos à às é foi ser são qual quais como quando onde qual quanto quanta quantos
the of and in on for to is was are be what which how when where a an by with from at
this that it its as or
""".split())  # noqa: SIM905 - a word list reads better as text; folded like the tokens
_WORD = re.compile(r"[a-z0-9_]+")


def tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(fold(text)) if w not in _STOP and len(w) > 1]


@dataclass(frozen=True)
class Passage:
    document: str
    title: str
    text: str
    score: float = 0.0


def split_passages(name: str, text: str) -> list[Passage]:
    """Passages: paragraphs under their nearest heading (the heading is the title)."""
    title = name
    out: list[Passage] = []
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if not block:
            continue
        if block.startswith("#"):
            first, _, rest = block.partition("\n")
            title = first.lstrip("#").strip()
            block = rest.strip()
            if not block:
                continue
        out.append(Passage(document=name, title=title, text=block))
    return out


class KnowledgeBase:
    """BM25 over passages of the documents in one folder (``*.md``, ``*.txt``)."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self._index = bm25s.BM25()
        corpus = [tokens(f"{p.title} {p.text}") or ["_"] for p in passages]
        if passages:
            self._index.index(corpus, show_progress=False)

    @classmethod
    def from_folder(cls, folder: Path | None = None) -> KnowledgeBase:
        """The given folder, or the documents shipped with onsflux."""
        if folder is None:
            root = resources.files("onsflux.answer") / "kb"
            files = sorted((p.name, p.read_text(encoding="utf-8")) for p in root.iterdir()
                           if p.name.endswith((".md", ".txt")))
        else:
            files = sorted((p.name, p.read_text(encoding="utf-8"))
                           for p in Path(folder).glob("*") if p.suffix in (".md", ".txt"))
        passages = [p for name, text in files for p in split_passages(name, text)]
        return cls(passages)

    def search(self, query: str, k: int = 3) -> list[Passage]:
        """The ``k`` best passages with a positive score, best first."""
        q = tokens(query)
        if not q or not self.passages:
            return []
        docs, scores = self._index.retrieve([q], k=min(k, len(self.passages)),
                                            show_progress=False)
        out = []
        for idx, score in zip(docs[0], scores[0], strict=True):
            if score > 0:
                p = self.passages[int(idx)]
                out.append(Passage(p.document, p.title, p.text, round(float(score), 4)))
        return out
