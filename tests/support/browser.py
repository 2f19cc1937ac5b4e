"""Headless Debian Chromium for page tests: load a URL, let its scripts run, read the DOM.

``chromium --headless --dump-dom`` prints the DOM after the page's scripts ran (its fetches
included, within ``--virtual-time-budget``); ``Dom`` is a small tree over it built with the
standard library's HTML parser, enough to find elements and read their text.
``Browser`` drives one headless Chromium over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: fd 3 in, fd 4 out, JSON messages ended by NUL) to click and
type as a person does. Each run gets its own profile folder, so tests (and people)
running Chromium at the same time do not share a profile lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

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


class Browser:
    """One headless Chromium tab driven over the DevTools protocol (a pipe, no port)."""

    def __init__(self, *, width: int = 1200, height: int = 1600, lang: str = "pt-BR") -> None:
        self._profile = tempfile.mkdtemp(prefix="onsflux-chromium-")
        to_chromium, self._cmd = os.pipe()
        self._out, from_chromium = os.pipe()

        def fds() -> None:  # in the child: the protocol's fds 3 (commands) and 4 (replies)
            a, b = os.dup(to_chromium), os.dup(from_chromium)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        flags = [f for f in _flags(width, height, lang) if not f.startswith("--virtual-time")]
        self.proc = subprocess.Popen(
            [chromium(), *flags, "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
             "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chromium)
        os.close(from_chromium)
        self._buf = b""
        self._id = 0
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.send("Target.attachToTarget",
                                  {"targetId": target, "flatten": True})["sessionId"]

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, method: str, params: dict[str, Any] | None = None, *,
             page: bool = False) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if page:
            msg["sessionId"] = self._session
        os.write(self._cmd, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                chunk = os.read(self._out, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result") or {}

    def open(self, url: str) -> None:
        self.send("Page.navigate", {"url": url}, page=True)

    def js(self, expression: str) -> Any:
        """The value of ``expression`` in the page (promises awaited)."""
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True}, page=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails'].get('text')}")
        return r.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 90) -> Any:
        """Poll until ``expression`` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.js(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true after {timeout} s: {expression}")
            time.sleep(0.1)

    def press(self, key: str, code: int) -> None:
        """A key press on the focused element (``Enter``, 13)."""
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", {
                "type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code,
                **({"text": "\r"} if kind == "keyDown" and key == "Enter" else {})}, page=True)

    def dom(self) -> Dom:
        return Dom.parse(str(self.js("document.documentElement.outerHTML")))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._cmd, self._out):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)
