"""The ``/ops`` page: one page, one section per concern, each a self-contained fragment.

``GET /ops`` is the skeleton (``ops.html``: the API key box and ``window.opsFetch``) with
the sections in order: pipeline health (``onsflux/ops/pipeline_section.html``, data from
``GET /ops/pipeline.json``), then the cutover's when its package provides one
(``onsflux.cutover.page.section_html()``). A section brings its own markup, script and
JSON endpoint; none depends on another. The data endpoints need an API key like
``POST /query``; the page itself is static.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from ..ops.health import History, pipeline_health
from ..settings import Settings

MARKER = "<!-- onsflux:sections -->"


@cache
def _skeleton() -> str:
    return (resources.files("onsflux.api") / "ops.html").read_text(encoding="utf-8")


@cache
def _pipeline_section() -> str:
    return (resources.files("onsflux.ops") / "pipeline_section.html").read_text(encoding="utf-8")


def sections() -> list[str]:
    """The page's sections, in order."""
    out = [_pipeline_section()]
    try:
        from ..cutover import page as cutover_page  # type: ignore[attr-defined]
    except ImportError:
        pass
    else:
        out.append(cutover_page.section_html())
    return out


def ops_html() -> str:
    return _skeleton().replace(MARKER, "\n".join(sections()))


def mount(app: FastAPI, settings: Settings, require_key: Callable[..., None],
          store_factory: Callable[[], Any]) -> None:
    """Add ``GET /ops`` and ``GET /ops/pipeline.json`` to ``app``."""
    history = History()

    @app.get("/ops", response_class=HTMLResponse, include_in_schema=False)
    def ops_page() -> str:
        return ops_html()

    @app.get("/ops/pipeline.json", dependencies=[Depends(require_key)])
    def ops_pipeline() -> dict[str, Any]:
        """Pipeline health: ingest, dead letters, migration progress, sync lag, breaker."""
        store = store_factory()
        try:
            return pipeline_health(settings, store, history)
        finally:
            store.close()
