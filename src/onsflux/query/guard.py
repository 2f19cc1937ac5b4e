"""Raw InfluxQL from users: read-only, one statement, or refused.

``check_influxql`` tokenizes the text the way InfluxQL's scanner does (strings in
``'...'``, identifiers in ``"..."``, regexes in ``/.../`` after ``=~``/``!~``, comments
``-- ...`` and ``/* ... */``), then requires: exactly one statement, starting with
SELECT or SHOW, with no INTO. Defence in depth on top of the tokenizer: a ``;`` anywhere
but at the very end and the word INTO anywhere (even inside a literal) are refused too,
so a tokenizer mistake cannot open a second statement. Do not count on the server:
InfluxDB 1.6.7 executes writes even when sent as GET (it only warns).
"""

from __future__ import annotations

import re

from ..exceptions import InvalidQuery

READ_KEYWORDS = ("SELECT", "SHOW")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: word, string, ident, regex, punct; comments removed."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise InvalidQuery("unterminated /* comment")
            i = j + 2
        elif c in "'\"":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise InvalidQuery(f"unterminated {'string' if c == chr(39) else 'identifier'}")
            out.append(("string" if c == "'" else "ident", text[i:j + 1]))
            i = j + 1
        elif c == "/" and out and out[-1][1] in ("=~", "!~"):
            j = i + 1
            while j < n and text[j] != "/":
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise InvalidQuery("unterminated regular expression")
            out.append(("regex", text[i:j + 1]))
            i = j + 1
        elif text.startswith(("=~", "!~"), i):
            out.append(("punct", text[i:i + 2]))
            i += 2
        else:
            m = _WORD.match(text, i)
            if m:
                out.append(("word", m.group(0)))
                i = m.end()
            else:
                out.append(("punct", c))
                i += 1
    return out


def check_influxql(text: str) -> str:
    """Return the statement keyword (SELECT/SHOW) or raise ``InvalidQuery``."""
    if not text.strip():
        raise InvalidQuery("empty query")
    tokens = _tokens(text)
    if not tokens:
        raise InvalidQuery("the query is only comments")
    while tokens and tokens[-1] == ("punct", ";"):
        tokens.pop()
    if any(t == ("punct", ";") for t in tokens):
        raise InvalidQuery("one statement per query: remove the ';'")
    kind, first = tokens[0]
    keyword = first.upper() if kind == "word" else first
    if keyword not in READ_KEYWORDS:
        raise InvalidQuery(f"only SELECT and SHOW are allowed, not {first!r}")
    if any(k == "word" and t.upper() == "INTO" for k, t in tokens):
        raise InvalidQuery("SELECT ... INTO writes data: not allowed")
    # defence in depth, independent of the tokenizer
    if re.search(r"\binto\b", text, re.I):
        raise InvalidQuery("the word INTO is not allowed in raw queries (even quoted)")
    if ";" in text.rstrip().rstrip(";"):
        raise InvalidQuery("';' is not allowed inside raw queries (even quoted)")
    return keyword
