"""Headless Debian Chromium for page tests: load a URL, let its scripts run, read the DOM.

``chromium --headless --dump-dom`` prints the DOM after the page's scripts ran (its fetches
included, within ``--virtual-time-budget``); ``Dom`` is a small tree over it built with the
standard library's HTML parser, enough to find elements and read their text.
Each call gets its own profile folder, so tests (and people) running Chromium at the same
time do not share a profile lock.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:  # make test installs it (Debian's chromium); never skipped
        raise RuntimeError("chromium not found: run `make setup` (apt-get install chromium)")
    return path


def _flags(width: int, height: int, lang: str) -> list[str]:
    flags = ["--headless", "--disable-gpu", "--hide-scrollbars", f"--lang={lang}", f"--accept-lang={lang}",
             f"--window-size={width},{height}", "--virtual-time-budget=20000",
             "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage"]
    if os.geteuid() == 0:  # Chromium refuses to run as root with its sandbox
        flags.append("--no-sandbox")
    return flags


def dump_dom(url: str, *, width: int = 1200, height: int = 1600, lang: str = "pt-BR") -> Dom:
    with tempfile.TemporaryDirectory(prefix="onsflux-chromium-") as profile:
        out = subprocess.run(
            [chromium(), *_flags(width, height, lang), f"--user-data-dir={profile}",
             "--dump-dom", url],
            capture_output=True, text=True, timeout=120, check=False)
    if out.returncode != 0 or "<html" not in out.stdout:
        raise RuntimeError(f"chromium --dump-dom failed ({out.returncode}): {out.stderr[-2000:]}")
    return Dom.parse(out.stdout)


def screenshot(url: str, path: str, *, width: int = 1200, height: int = 1600,
               lang: str = "pt-BR") -> None:
    with tempfile.TemporaryDirectory(prefix="onsflux-chromium-") as profile:
        subprocess.run([chromium(), *_flags(width, height, lang), f"--user-data-dir={profile}",
                        f"--screenshot={path}", url],
                       capture_output=True, timeout=120, check=True)


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Visible-ish text: all descendant text, whitespace collapsed (no script/style)."""
        parts: list[str] = []

        def walk(n: Node) -> None:
            if n.tag in ("script", "style", "title") and n.tag != self.tag:
                return
            for c in n.children:
                if isinstance(c, str):
                    parts.append(c)
                else:
                    walk(c)
        walk(self)
        # collapse ASCII whitespace only: a no-break space (1\u00a0MW) is part of the text
        return re.sub(r"[ \t\n\r\f]+", " ", " ".join(parts)).strip()

    def iter(self) -> Iterator[Node]:
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()

    def find_all(self, tag: str | None = None, *, cls: str | None = None,
                 **attrs: str) -> list[Node]:
        out = []
        for n in self.iter():
            if tag is not None and n.tag != tag:
                continue
            if cls is not None and cls not in n.attrs.get("class", "").split():
                continue
            if any(n.attrs.get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            out.append(n)
        return out

    def find(self, tag: str | None = None, *, cls: str | None = None, **attrs: str) -> Node | None:
        found = self.find_all(tag, cls=cls, **attrs)
        return found[0] if found else None

    def by_id(self, id_: str) -> Node | None:
        return self.find(id=id_)


class Dom(Node):
    @classmethod
    def parse(cls, html: str) -> Dom:
        root = cls("#document", {})
        stack: list[Node] = [root]

        class P(HTMLParser):
            def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
                node = Node(tag, {k: v or "" for k, v in attrs})
                stack[-1].children.append(node)
                if tag not in VOID:
                    stack.append(node)

            def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
                stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

            def handle_endtag(self, tag: str) -> None:
                for i in range(len(stack) - 1, 0, -1):
                    if stack[i].tag == tag:
                        del stack[i:]
                        break

            def handle_data(self, data: str) -> None:
                stack[-1].children.append(data)

        p = P(convert_charrefs=True)
        p.feed(html)
        p.close()
        return root
