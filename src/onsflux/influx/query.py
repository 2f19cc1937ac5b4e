"""Queries: InfluxQL through ``/query`` (every kind) and Flux through ``/api/v2/query``.

Builds the request, sends it through the transport and turns a refusal (HTTP error or
an ``error`` in any statement's result) into ``QueryError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from ..exceptions import QueryError
from ..settings import Settings
from .transport import AUTH_HINT, Transport

_FLUX_DIALECT = {"header": True, "delimiter": ",", "annotations": ["datatype", "group", "default"]}


def points(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``/query`` results flattened: one dict per row, ``{time, <tags>..., <columns>...}``."""
    rows: list[dict[str, Any]] = []
    for result in results:
        for series in result.get("series") or []:
            tags = series.get("tags") or {}
            columns = series.get("columns") or []
            for values in series.get("values") or []:
                row: dict[str, Any] = dict(tags)
                row.update(zip(columns, values, strict=False))
                rows.append(row)
    return rows


class Queries:
    """Read and admin statements against one server (``InfluxClient`` delegates here)."""

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self._t = transport
        self._settings = settings

    def query(
        self, q: str, *, db: str | None = None, params: Mapping[str, str] | None = None,
        method: Literal["GET", "POST"] = "POST",
    ) -> list[dict[str, Any]]:
        """Run InfluxQL through ``/query`` (``epoch=ns``) and return its ``results``.

        Times come back as integer nanoseconds. Raises ``QueryError`` when the server
        refuses the query or any statement's result carries an ``error``. ``GET`` is the
        read verb the query engine uses for SELECT/SHOW (POST is for statements that
        change things: databases, retention policies, deletes).
        """
        form = {"q": q}
        if db is not None:
            form["db"] = db
        query_params = {"epoch": "ns", **(params or {})}
        what = f"query {self._t.brief(q, 120)!r}"
        if method == "GET":
            response, _ = self._t.request("GET", "/query", what=what,
                                          params={**query_params, **form})
        else:
            response, _ = self._t.request(
                "POST", "/query", what=what, params=query_params, data=form
            )
        text = response.text
        status = response.status_code
        try:
            doc = response.json() if text.strip() else {}
        except ValueError:
            doc = None
        if status >= 400 or not isinstance(doc, dict):
            detail = doc.get("error") if isinstance(doc, dict) else None
            if status in (401, 403):
                detail = f"authentication failed: {AUTH_HINT}"
            raise QueryError(f"{what}: HTTP {status}: {self._t.brief(str(detail or text))}",
                             status=status, body=self._t.scrub(text))
        if "error" in doc:
            raise QueryError(f"{what}: {doc['error']}", status=status, body=self._t.scrub(text))
        results = doc.get("results") or []
        for result in results:
            if isinstance(result, dict) and result.get("error"):
                raise QueryError(
                    f"{what}: statement {result.get('statement_id', '?')}: {result['error']}",
                    status=status,
                    body=self._t.scrub(text),
                )
        return list(results)

    def query_flux(self, flux: str, *, what: str = "flux query") -> str:
        """Run Flux through ``/api/v2/query`` (2.x) and return the annotated CSV."""
        body = {"query": flux, "type": "flux", "dialect": _FLUX_DIALECT}
        response, _ = self._t.request(
            "POST", "/api/v2/query", what=what,
            params={"org": self._settings.influxdb_org}, json_body=body,
            headers={"Accept": "application/csv", "Content-Type": "application/json"},
        )
        if response.status_code >= 400:
            raise QueryError(
                f"{what}: HTTP {response.status_code}: {self._t.brief(response.text)}",
                status=response.status_code, body=self._t.scrub(response.text),
            )
        return response.text

    def query_points(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """``query`` flattened: one dict per row, ``{time, <tags>..., <columns>...}``."""
        return points(self.query(q, db=db))
