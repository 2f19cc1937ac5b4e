"""The MCP server: three read-only tools over stdio, built with the official ``mcp`` SDK.

Why a server of its own and not raw query text: the MCP servers for InfluxDB that exist
(AWS's Timestream for InfluxDB server, InfluxData's) hand the assistant a query language.
This one hands it what the HTTP API gives people — a grounded answer with the data, the
query in every dialect, the sources and a confidence, or an honest refusal — and a typed
query model. No tool accepts query text, so nothing an assistant sends can write, drop or
reach another database: a ``QuerySpec`` renders to one SELECT over the catalog's
measurements, and its tag values are escaped literals.

Tools:
- ``ask(question)``: exactly the JSON of ``POST /query`` (its ``query_id`` is the request id).
- ``query(spec)``: a ``QuerySpec`` (the CLI's ``--spec`` model), validated; at most
  ``MAX_ROWS`` rows, ``truncated`` when cut; the spec rendered in every dialect.
- ``describe()``: buckets, measurements, tags (values seen in the data, at most
  ``MAX_TAG_VALUES`` each), fields with units and ranges, and each measurement's coverage
  (first and last timestamp in the data).
Every result carries a ``request_id`` (``ask``: ``query_id``). Errors come back as tool
errors with a one-line reason (credentials masked), never a traceback. stdout is the protocol: nothing else
may print there (the SDK logs to stderr).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field, WithJsonSchema

from .. import __version__, catalog
from ..answer.parse import MAX_QUESTION_CHARS
from ..answer.service import AnswerService
from ..exceptions import InvalidQuery, OnsfluxError
from ..frames import rfc3339
from ..influx.query import points
from ..query.render import DIALECTS, render
from ..query.spec import AGGREGATES, QuerySpec
from ..redact import install_log_redaction, redact
from ..settings import Settings

log = logging.getLogger(__name__)

#: rows a ``query`` result carries at most (``ask`` keeps the API's own bound)
MAX_ROWS = 1000
#: tag values ``describe`` lists per tag at most
MAX_TAG_VALUES = 100

_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False,
                             idempotent_hint=True, open_world_hint=False)

INSTRUCTIONS = (
    "Electricity data of Brazil's system operator (ONS) in InfluxDB: generation per plant, "
    "load per subsystem, interchange. Prefer `ask` for questions in Portuguese or English: "
    "it answers with the number, the data behind it, the query in every dialect, sources "
    "and a confidence, or says why it cannot. Use `describe` to see measurements, fields, "
    "units, tag values and the period the data covers, and `query` for a precise QuerySpec. "
    "Times are UTC in results; the data's local time is America/Sao_Paulo (Brasília)."
)

SPEC_EXAMPLE: dict[str, Any] = {
    "measurement": "consumption_data", "fields": ["demand_mw"],
    "where": {"region": ["southeast"]}, "start": "2024-03-01", "stop": "2024-03-08",
    "timezone": "America/Sao_Paulo", "every": "1d", "aggregate": "max",
}

T = TypeVar("T")


def _spec_schema() -> dict[str, Any]:
    schema = QuerySpec.model_json_schema()
    schema["description"] = (
        "A QuerySpec: measurement, fields, tag filters (where: tag -> list of values, ORed), "
        "a half-open time range [start, stop) read in `timezone`, an optional window "
        "(`every`, e.g. 1h, 1d, 7d) with an aggregate (" + ", ".join(AGGREGATES) + "; energy = "
        "MWh from MW samples), group_by tags, top/bottom N, order, limit. Example: "
        + str(SPEC_EXAMPLE).replace("'", '"'))
    return schema


class Tools:
    """The tools' logic, without the protocol: one answer service, made on first use."""

    def __init__(self, service_factory: Callable[[], AnswerService]) -> None:
        self._factory = service_factory
        self._service: AnswerService | None = None

    @property
    def service(self) -> AnswerService:
        if self._service is None:
            self._service = self._factory()
        return self._service

    def ask(self, question: str) -> dict[str, Any]:
        return self.service.ask(question)

    def query(self, spec: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(spec) - set(QuerySpec.model_fields))
        if unknown:  # said first: a query text in any key is refused by name
            raise InvalidQuery(
                f"spec: unknown field(s) {', '.join(map(repr, unknown))}: this server takes no "
                f"query text, only a QuerySpec ({', '.join(QuerySpec.model_fields)})")
        q = QuerySpec.parse(spec)  # InvalidQuery/CatalogError name the field and the reason
        warnings: list[str] = []
        if q.limit > MAX_ROWS:
            if "limit" in spec:
                warnings.append(f"limit lowered to {MAX_ROWS} rows (this server's bound)")
            q = q.replace(limit=MAX_ROWS)
        queries: dict[str, str | None] = {}
        for dialect in DIALECTS:
            try:
                queries[dialect] = render(q, dialect).text
            except OnsfluxError:
                queries[dialect] = None
        result = self.service.executor.run(q)
        out = result.as_dict()
        out["warnings"] = warnings + out["warnings"]
        return {"request_id": str(uuid.uuid4()), "spec": q.to_dict(), **out, "queries": queries}

    def describe(self) -> dict[str, Any]:
        client = self.service.executor.client
        errors: list[str] = []

        def read(q: str, db: str) -> list[dict[str, Any]]:
            try:
                return points(client.query(q, db=db, method="GET"))
            except OnsfluxError as exc:
                errors.append(str(exc))
                return []

        measurements = []
        for m in catalog.MEASUREMENTS.values():
            tags = []
            for tag in m.tags:
                rows = read(f'SHOW TAG VALUES FROM "{m.name}" WITH KEY = "{tag}" '
                            f"LIMIT {MAX_TAG_VALUES + 1}", m.bucket)
                values = [str(r["value"]) for r in rows if r.get("value") is not None]
                tags.append({"name": tag, "required": tag in m.required_tags,
                             "values": values[:MAX_TAG_VALUES],
                             "truncated": len(values) > MAX_TAG_VALUES})
            fields = [{"name": f.name, "unit": f.unit, "type": f.type, "min": f.min, "max": f.max,
                       "description": f.description} for f in m.fields.values()]
            first = read(f'SELECT * FROM "{m.name}" ORDER BY time ASC LIMIT 1', m.bucket)
            last = read(f'SELECT * FROM "{m.name}" ORDER BY time DESC LIMIT 1', m.bucket)
            coverage = None
            if first and last:
                coverage = {"first": rfc3339(int(first[0]["time"])),
                            "last": rfc3339(int(last[0]["time"]))}
            measurements.append({"name": m.name, "bucket": m.bucket, "description": m.description,
                                 "retention": m.retention, "tags": tags, "fields": fields,
                                 "coverage": coverage})
        return {
            "request_id": str(uuid.uuid4()),
            "server": {"kind": _kind(client), "onsflux": __version__},
            "organization": catalog.ORG,
            "buckets": [{"name": m.bucket, "retention": m.retention}
                        for m in catalog.MEASUREMENTS.values()],
            "measurements": measurements,
            "timezone": {"stored": "UTC", "local": catalog.TIMEZONE},
            "aggregates": list(AGGREGATES),
            "bounds": {"query_rows": MAX_ROWS, "tag_values": MAX_TAG_VALUES,
                       "question_chars": MAX_QUESTION_CHARS},
            "spec_example": SPEC_EXAMPLE,
            "errors": sorted(set(errors)),
        }


def _kind(client: Any) -> str | None:
    try:
        return str(client.kind)
    except OnsfluxError:
        return None


def _guarded(fn: Callable[[], T], tool: str) -> T:
    """Our errors become one-line tool errors; anything else says "internal" (no traceback,
    no internals), with the details in the server's log (stderr)."""
    try:
        return fn()
    except OnsfluxError as exc:
        raise ToolError(redact(f"{exc.kind}: {exc}")) from None
    except Exception:
        log.exception("tool %s failed", tool)
        raise ToolError("internal error; the server log has the details") from None


def build_server(service_factory: Callable[[], AnswerService]) -> MCPServer:
    """The MCP server with its three tools; the answer service is made on the first call."""
    tools = Tools(service_factory)
    server: MCPServer = MCPServer("onsflux", title="onsflux — ONS electricity data",
                                  instructions=INSTRUCTIONS, version=__version__,
                                  log_level="WARNING")

    @server.tool(annotations=_READ_ONLY)
    def ask(question: Annotated[str, Field(
            min_length=1, max_length=MAX_QUESTION_CHARS,
            description="A question in Portuguese or English, e.g. 'Qual foi o pico de carga "
                        "no Sudeste ontem?' or 'Which 5 plants generated the most last week?'")]
            ) -> dict[str, Any]:
        """Answer a question about ONS load, generation or interchange: the same JSON as the
        HTTP API's POST /query (answer, status ok|ambiguous|unanswerable, time_series_data,
        queries in every dialect, sources, confidence with its reasons, candidates when
        ambiguous, truncated, query_id = the request id)."""
        return _guarded(lambda: tools.ask(question), "ask")

    @server.tool(annotations=_READ_ONLY)
    def query(spec: Annotated[dict[str, Any], WithJsonSchema(_spec_schema())]) -> dict[str, Any]:
        """Run one QuerySpec (validated; read-only: it renders to a single SELECT). Returns
        request_id, the normalized spec, row_count, truncated, served_from, query_used, the
        spec in every dialect (queries), warnings and time_series_data (at most 1000 rows)."""
        return _guarded(lambda: tools.query(spec), "query")

    @server.tool(annotations=_READ_ONLY)
    def describe() -> dict[str, Any]:
        """What can be asked: buckets, measurements, tags (with values seen in the data),
        fields with units and ranges, and the period each measurement's data covers."""
        return _guarded(tools.describe, "describe")

    return server


def run_stdio(settings: Settings) -> None:
    """Serve over stdin/stdout until the client closes the connection."""
    from ..api.app import default_service

    install_log_redaction()  # the log (stderr) too: no credential in any record
    build_server(lambda: default_service(settings)).run("stdio")
