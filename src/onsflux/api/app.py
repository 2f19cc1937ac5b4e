"""The HTTP API (FastAPI): ``POST /query``, ``GET /health``, ``GET /metrics``, a web page.

Thin: parse the request, call the ``AnswerService``, map errors to status codes.

- API keys are required (``X-API-Key`` header or ``Authorization: Bearer``), compared in
  constant time, unless ``ONSFLUX_API_AUTH=disabled`` says this is a local, private run.
  With no keys configured and auth not disabled, every request gets 401 saying so.
- Request bodies over ``MAX_BODY_BYTES`` get 413 before they are read.
- Errors are JSON ``{"error": {"kind", "message"}}``: 400 for a refused query, 401, 413,
  422 for a malformed body, 503 when InfluxDB is down and no fallback can answer, 500
  (no traceback, no internals) for anything unexpected.
The same app runs on Lambda behind API Gateway through Mangum (``handlers.api``).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from .. import __version__
from .. import metrics as _metrics
from ..answer.parse import MAX_QUESTION_CHARS
from ..answer.service import AnswerService
from ..exceptions import CircuitOpen, InvalidQuery, OnsfluxError, ServerUnavailable
from ..settings import Settings

MAX_BODY_BYTES = 16 * 1024


class QueryRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                          examples=["Qual foi o pico de carga no Sudeste em janeiro de 2024?"])


class TimeSeriesPoint(BaseModel):
    timestamp: str
    measurement: str
    field: str
    value: float | None
    tags: dict[str, str]


class SourceRef(BaseModel):
    document: str
    relevance_score: float
    time_range: dict[str, str] | None


class QueryUsed(BaseModel):
    dialect: str
    text: str


class TimeRangeOut(BaseModel):
    start: str
    stop: str
    timezone: str
    expression: str | None


class QueryResponse(BaseModel):
    """The old platform's fields first, then what onsflux adds."""

    query_id: str
    question: str
    answer: str
    confidence_score: float
    time_series_data: list[TimeSeriesPoint]
    flux_query_used: str | None
    sources: list[SourceRef]
    processing_time_ms: float
    timestamp: str
    status: str = Field(description="ok | ambiguous | unanswerable")
    query_used: QueryUsed | None
    influxql_query_used: str | None
    time_range: TimeRangeOut | None
    warnings: list[str]
    served_from: str | None = Field(description="influxdb | s3_fallback | timestream | files "
                                                "(the cutover's blue); null if no query ran")
    language: str
    intent: str | None
    confidence_parts: list[str]
    candidates: list[dict[str, str]]
    truncated: bool
    answer_source: str = Field(description="template | bedrock (numbers checked against the query)")
    queries: dict[str, str | None] = Field(default_factory=dict,
                                           description="the spec in every dialect (null: cannot say it)")
    display: dict[str, Any] | None = Field(None, description="chart kind, titles, units, labels")


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"kind": kind, "message": message}}, status_code=status)


def create_app(settings: Settings | None = None, *,
               service_factory: Callable[[], AnswerService] | None = None) -> FastAPI:
    """Build the app; the answer service is created on first use (so /health works early)."""
    s = settings or Settings()
    keys = [k.strip().encode() for k in (s.api_keys.get_secret_value() if s.api_keys else "")
            .split(",") if k.strip()]
    auth_disabled = s.api_auth == "disabled"

    app = FastAPI(title="onsflux", version=__version__,
                  description="Questions about Brazil's ONS electricity data, answered from "
                              "InfluxDB with the data and the query behind every number.")
    state: dict[str, Any] = {}

    def service() -> AnswerService:
        if "service" not in state:
            state["service"] = service_factory() if service_factory else default_service(s)
        return state["service"]  # type: ignore[no-any-return]

    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
    bearer = HTTPBearer(auto_error=False)

    # Depends() as a default, not Annotated: the dependencies are locals of create_app and
    # FastAPI resolves (postponed) annotations in the module's globals only.
    def require_key(key: str | None = Depends(api_key_header),  # noqa: B008
                    cred: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
                    ) -> None:
        if auth_disabled:
            return
        if not keys:
            raise _AuthError("no API keys are configured on this server: set ONSFLUX_API_KEYS "
                             "(or ONSFLUX_API_AUTH=disabled for a private local run)")
        given = key or (cred.credentials if cred else None)
        if not given:
            raise _AuthError("missing API key: send X-API-Key or Authorization: Bearer")
        ok, given_bytes = False, given.encode()
        for k in keys:  # compare with every key, in constant time each
            ok |= hmac.compare_digest(given_bytes, k)
        if not ok:
            raise _AuthError("invalid API key")

    @app.middleware("http")
    async def limits_and_metrics(request: Request,
                                 call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            response: Response = _error(413, "too_large",
                                        f"request body over {MAX_BODY_BYTES} bytes")
        else:
            response = await call_next(request)
        path = request.url.path if request.url.path in ("/query", "/health", "/metrics", "/",
                                                        "/ops", "/ops/pipeline.json") else "other"
        _metrics.inc("onsflux_api_requests_total", path=path, status=response.status_code)
        if response.status_code >= 500:
            _metrics.inc("onsflux_api_server_errors_total", path=path)
        _metrics.observe("onsflux_api_request_seconds", time.perf_counter() - started, path=path)
        return response

    @app.exception_handler(_AuthError)
    async def _auth(_: Request, exc: _AuthError) -> JSONResponse:
        resp = _error(401, "unauthorized", str(exc))
        resp.headers["WWW-Authenticate"] = "Bearer"
        return resp

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid body')}")

    @app.exception_handler(OnsfluxError)
    async def _ours(_: Request, exc: OnsfluxError) -> JSONResponse:
        if isinstance(exc, ServerUnavailable | CircuitOpen):
            return _error(503, exc.kind, f"InfluxDB is unavailable and no fallback could "
                                         f"answer: {exc}")
        if isinstance(exc, InvalidQuery):
            return _error(400, exc.kind, str(exc))
        return _error(500, exc.kind, str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return _error(500, "internal", "internal error; the server log has the details")

    @app.post("/query", response_model=QueryResponse, dependencies=[Depends(require_key)],
              responses={401: {}, 413: {}, 422: {}, 503: {}})
    def query(body: QueryRequest) -> dict[str, Any]:
        """Answer a question in Portuguese or English."""
        out = service().ask(body.question)
        _metrics.inc("onsflux_answers_total", status=out["status"],
                    served_from=out["served_from"] or "none")
        return out

    @app.get("/health")
    def health() -> JSONResponse:
        """InfluxDB, state store and fallback reachability; 503 when nothing can answer."""
        checks: dict[str, Any] = {}
        svc = service()
        try:
            info = svc.executor.client.ping(refresh=True)
            checks["influxdb"] = {"ok": True, "version": info.version, "kind": info.kind}
        except OnsfluxError as exc:
            checks["influxdb"] = {"ok": False, "error": str(exc)}
        try:
            n = len(svc.store.objects()) if svc.store is not None else 0
            checks["state_store"] = {"ok": True, "objects": n}
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["state_store"] = {"ok": False, "error": type(exc).__name__}
        fb = svc.executor.fallback
        checks["fallback"] = {"ok": fb is not None, "configured": fb is not None}
        ok = checks["influxdb"]["ok"] or checks["fallback"]["ok"]
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks,
                             "version": __version__}, status_code=200 if ok else 503)

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        """Prometheus text format."""
        return PlainTextResponse(generate_latest(_metrics.REGISTRY).decode(),
                                 media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return _page_html()

    from ..state.store import store_for
    from .ops import mount as _mount_ops

    _mount_ops(app, s, require_key, lambda: store_for(s))
    return app


class _AuthError(Exception):
    pass


@cache
def _page_html() -> str:
    """The web page, read from the package once per process."""
    return (resources.files("onsflux.api") / "page.html").read_text(encoding="utf-8")


def default_service(settings: Settings) -> AnswerService:
    """The service for a deployment: executor from settings, its state store and vocabulary."""
    from ..answer.entities import Vocabulary
    from ..query.execute import Executor
    from ..state.store import store_for

    executor = Executor(settings)
    vocabulary = Vocabulary.default()
    try:
        plants = executor.client.query_points(
            'SHOW TAG VALUES FROM "generation_data" WITH KEY = "plant"', db="generation_data")
        values = [str(r["value"]) for r in plants if r.get("value")]
        if values:
            vocabulary = Vocabulary.from_tag_values({"plant": values})
    except OnsfluxError:
        pass  # InfluxDB down: the default vocabulary still names the known plants
    knowledge: Any = None
    phraser = None
    if settings.answer_mode == "bedrock":
        from ..answer.bedrock import BedrockKnowledge, BedrockPhraser
        from ..exceptions import ConfigError

        if not settings.bedrock_model_id:
            raise ConfigError("ONSFLUX_ANSWER_MODE=bedrock needs ONSFLUX_BEDROCK_MODEL_ID")
        phraser = BedrockPhraser(settings.bedrock_model_id, region=settings.aws_region)
        if settings.bedrock_kb_id:
            knowledge = BedrockKnowledge(settings.bedrock_kb_id, region=settings.aws_region)
    from ..cutover.router import router_for

    return AnswerService(executor, store=store_for(settings), vocabulary=vocabulary,
                         knowledge=knowledge, phraser=phraser,
                         runner=router_for(settings, executor))
