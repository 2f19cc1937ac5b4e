"""The HTTP API (FastAPI): ``POST /query``, ``GET /health``, ``GET /metrics``, a web page.

Thin: parse the request, call the ``AnswerService``, map errors to status codes.

- Public endpoints (no key): ``/`` (the page: static, it sends the key the user types),
  ``/health`` (only ``{"status": "ok" | "degraded"}`` without a key; the checks with one),
  ``/metrics`` (request counters and latencies, for Prometheus), ``/openapi.json``,
  ``/docs``, ``/redoc``. Everything else — ``/query`` and any endpoint added later —
  needs an API key (``X-API-Key`` header or ``Authorization: Bearer``), compared in
  constant time, unless ``ONSFLUX_API_AUTH=disabled`` says this is a local, private run.
  With no keys configured and auth not disabled, every protected request gets 401.
- ``_Guard`` (pure ASGI) runs before any routing: it checks the key from the headers
  *before* reading a byte of the body, then reads the body while counting, answering 413
  as soon as it passes ``MAX_BODY_BYTES`` (chunked bodies without ``Content-Length``
  too), and refuses invalid UTF-8 and JSON nested deeper than ``MAX_JSON_DEPTH`` with
  the documented 422.
- Errors are JSON ``{"error": {"kind", "message", "request_id"}}``: 400 for a refused
  query, 401, 404, 413, 422 for a malformed body, 503 when InfluxDB is down and no
  fallback can answer, 500 for anything unexpected. Messages never carry internal URLs,
  errno text or queries: those go to the log with the request id (also the
  ``X-Request-Id`` header), and the body names the id.
The same app runs on Lambda behind API Gateway through Mangum (``handlers.api``).
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .. import metrics as _metrics
from ..answer.parse import MAX_QUESTION_CHARS
from ..answer.service import AnswerService
from ..exceptions import CircuitOpen, InvalidQuery, OnsfluxError, ServerUnavailable
from ..redact import install_log_redaction, redact
from ..settings import Settings

MAX_BODY_BYTES = 16 * 1024
MAX_JSON_DEPTH = 32
#: reachable without an API key (see the module docstring); everything else needs one
PUBLIC_PATHS = frozenset({"/", "/health", "/metrics", "/openapi.json", "/docs",
                          "/docs/oauth2-redirect", "/redoc",
                          "/ops"})  # the shell only: its data (/ops/sections) needs a key
_METRIC_PATHS = ("/query", "/health", "/metrics", "/", "/ops", "/ops/sections")

log = logging.getLogger("onsflux.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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


def _body(status: int, kind: str, message: str, request_id: str | None) -> dict[str, Any]:
    error: dict[str, Any] = {"kind": kind, "message": redact(message)}
    if request_id:
        error["request_id"] = request_id
    return {"error": error}


def _error(status: int, kind: str, message: str, request_id: str | None = None
           ) -> JSONResponse:
    # the guard adds the X-Request-Id header to every response
    return JSONResponse(_body(status, kind, message, request_id), status_code=status)


def _request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")  # type: ignore[no-any-return]


class Keys:
    """The API keys of a deployment, and the one check of a request's credentials."""

    def __init__(self, settings: Settings) -> None:
        raw = settings.api_keys.get_secret_value() if settings.api_keys else ""
        self._keys = [k.strip().encode() for k in raw.split(",") if k.strip()]
        self.disabled = settings.api_auth == "disabled"

    def problem(self, given: str | None) -> str | None:
        """Why ``given`` is refused, or None when it may pass."""
        if self.disabled:
            return None
        if not self._keys:
            return ("no API keys are configured on this server: set ONSFLUX_API_KEYS "
                    "(or ONSFLUX_API_AUTH=disabled for a private local run)")
        if not given:
            return "missing API key: send X-API-Key or Authorization: Bearer"
        ok, given_bytes = False, given.encode()
        for k in self._keys:  # compare with every key, in constant time each
            ok |= hmac.compare_digest(given_bytes, k)
        return None if ok else "invalid API key"

    @staticmethod
    def from_headers(headers: MutableMapping[str, str] | Any) -> str | None:
        key = headers.get("x-api-key")
        if key:
            return str(key)
        scheme, _, value = str(headers.get("authorization") or "").partition(" ")
        return value.strip() or None if scheme.lower() == "bearer" else None


def json_depth_exceeded(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``body`` nests arrays/objects deeper than ``limit`` (strings skipped)."""
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class _Guard:
    """Request id, auth before the body, a streamed body limit, body sanity, metrics.

    Pure ASGI, outermost: nothing downstream (FastAPI's body parsing included) runs for
    a request refused here, and the body is never read for an unauthenticated one.
    """

    def __init__(self, app: ASGIApp, *, keys: Keys, observe: Callable[[str, int, float], None]
                 ) -> None:
        self.app = app
        self.keys = keys
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            refusal, receive = await self._check(scope, receive)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            path = scope.get("path", "")
            self.observe(path if path in _METRIC_PATHS else "other", status["code"],
                         time.perf_counter() - started)

    async def _check(self, scope: Scope, receive: Receive
                     ) -> tuple[JSONResponse | None, Receive]:
        request_id = scope["state"]["request_id"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if scope.get("path") not in PUBLIC_PATHS:
            why = self.keys.problem(Keys.from_headers(headers))
            if why is not None:
                resp = _error(401, "unauthorized", why, request_id)
                resp.headers["WWW-Authenticate"] = "Bearer"
                return resp, receive
        length = headers.get("content-length")
        too_large = _error(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes",
                           request_id)
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return too_large, receive
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return None, receive
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _error(400, "disconnected", "client went away", request_id), receive
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:  # stop reading: the rest is never buffered
                return too_large, receive
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if "json" in headers.get("content-type", "") and body:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                return _error(422, "invalid_request", f"body: not valid UTF-8 (byte "
                              f"{exc.start}): send JSON encoded as UTF-8", request_id), receive
            if json_depth_exceeded(body):
                return _error(422, "invalid_request", f"body: JSON nested deeper than "
                              f"{MAX_JSON_DEPTH} levels", request_id), receive
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return None, replay


def create_app(settings: Settings | None = None, *,
               service_factory: Callable[[], AnswerService] | None = None) -> FastAPI:
    """Build the app; the answer service is created on first use (so /health works early)."""
    install_log_redaction()
    s = settings or Settings()
    keys = Keys(s)

    def observe(path: str, status: int, seconds: float) -> None:
        """The shared metric names (onsflux.metrics): the same on /metrics and in EMF."""
        _metrics.inc("onsflux_api_requests_total", path=path, status=status)
        if status >= 500:
            _metrics.inc("onsflux_api_server_errors_total", path=path)
        _metrics.observe("onsflux_api_request_seconds", seconds, path=path)

    app = FastAPI(title="onsflux", version=__version__,
                  description="Questions about Brazil's ONS electricity data, answered from "
                              "InfluxDB with the data and the query behind every number.")
    app.add_middleware(_Guard, keys=keys, observe=observe)
    state: dict[str, Any] = {}

    def service() -> AnswerService:
        if "service" not in state:
            state["service"] = service_factory() if service_factory else default_service(s)
        return state["service"]  # type: ignore[no-any-return]

    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
    bearer = HTTPBearer(auto_error=False)

    # The guard has already refused bad keys; this dependency declares the scheme in
    # OpenAPI and checks again in case the app is mounted without the guard.
    # Depends() as a default, not Annotated: the dependencies are locals of create_app and
    # FastAPI resolves (postponed) annotations in the module's globals only.
    def require_key(key: str | None = Depends(api_key_header),  # noqa: B008
                    cred: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
                    ) -> None:
        why = keys.problem(key or (cred.credentials if cred else None))
        if why is not None:
            raise _AuthError(why)

    @app.exception_handler(_AuthError)
    async def _auth(request: Request, exc: _AuthError) -> JSONResponse:
        resp = _error(401, "unauthorized", str(exc), _request_id(request))
        resp.headers["WWW-Authenticate"] = "Bearer"
        return resp

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid body')}",
                      _request_id(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (404, 405, a body it cannot parse) in our error shape
        if exc.status_code == 400:
            return _error(422, "invalid_request", "body: not valid JSON", _request_id(request))
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http")
        return _error(exc.status_code, kind, str(exc.detail), _request_id(request))

    @app.exception_handler(OnsfluxError)
    async def _ours(request: Request, exc: OnsfluxError) -> JSONResponse:
        rid = _request_id(request)
        log.warning("request %s: %s: %s", rid, exc.kind, exc)
        if isinstance(exc, ServerUnavailable | CircuitOpen):
            return _error(503, exc.kind, "InfluxDB is unavailable and no fallback could "
                          f"answer; try again later (request id {rid})", rid)
        if isinstance(exc, InvalidQuery):
            return _error(400, exc.kind, "the question could not be turned into a valid "
                          f"query (request id {rid})", rid)
        return _error(500, exc.kind, f"the request failed ({exc.kind}; request id {rid})", rid)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = _request_id(request)
        log.error("request %s: unexpected %s", rid, type(exc).__name__, exc_info=exc)
        return _error(500, "internal", f"internal error (request id {rid}); the server log "
                      "has the details", rid)

    @app.post("/query", response_model=QueryResponse, dependencies=[Depends(require_key)],
              responses={401: {}, 413: {}, 422: {}, 503: {}})
    def query(body: QueryRequest) -> dict[str, Any]:
        """Answer a question in Portuguese or English."""
        out = service().ask(body.question)
        _metrics.inc("onsflux_answers_total", status=out["status"],
                     served_from=out["served_from"] or "none")
        return out

    @app.get("/health")
    def health(request: Request) -> JSONResponse:
        """``ok`` or ``degraded`` for anyone; the checks only with a valid API key.

        Cheap: one ping of InfluxDB, one key lookup in the state store (never a scan).
        503 when nothing can answer (InfluxDB down and no fallback).
        """
        rid = _request_id(request)
        checks: dict[str, Any] = {}
        try:
            svc = service()
        except OnsfluxError as exc:  # e.g. the state store cannot be opened: nothing works
            log.warning("request %s: health: service: %s", rid, exc)
            down: dict[str, Any] = {"status": "degraded"}
            if keys.problem(Keys.from_headers(request.headers)) is None:
                down["error"] = exc.kind
            return JSONResponse(down, status_code=503)
        try:
            info = svc.executor.client.ping(refresh=True)
            checks["influxdb"] = {"ok": True, "version": info.version, "kind": info.kind}
        except OnsfluxError as exc:
            log.warning("request %s: health: influxdb: %s", rid, exc)
            checks["influxdb"] = {"ok": False, "error": exc.kind}
        try:
            if svc.store is not None:
                svc.store.ping()
            checks["state_store"] = {"ok": True, "configured": svc.store is not None}
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            log.warning("request %s: health: state store: %s", rid, exc)
            checks["state_store"] = {"ok": False, "error": getattr(exc, "kind", "error")}
        fb = svc.executor.fallback
        try:  # the store-backed fallback can answer only once something was ingested
            fb_ok = fb is not None and fb.can_answer()
        except OnsfluxError as exc:
            log.warning("request %s: health: fallback: %s", rid, exc)
            fb_ok = False
        checks["fallback"] = {"ok": fb_ok, "configured": fb is not None}
        can_answer = checks["influxdb"]["ok"] or checks["fallback"]["ok"]
        all_ok = checks["influxdb"]["ok"] and checks["state_store"]["ok"]
        out: dict[str, Any] = {"status": "ok" if all_ok else "degraded"}
        if keys.problem(Keys.from_headers(request.headers)) is None:
            out.update(checks=checks, version=__version__)
        return JSONResponse(out, status_code=200 if can_answer else 503)

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        """Prometheus text format."""
        return PlainTextResponse(generate_latest(_metrics.REGISTRY).decode(),
                                 media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return _page_html()

    from . import ops_pipeline  # noqa: F401 - registers the pipeline-health section
    from .ops import page_html, render_sections

    @app.get("/ops", response_class=HTMLResponse, include_in_schema=False)
    def ops_page() -> str:
        """The operations page (a shell: its data comes from /ops/sections, with a key)."""
        return page_html()

    @app.get("/ops/sections", dependencies=[Depends(require_key)])
    def ops_sections() -> dict[str, Any]:
        """Every section of the operations page, rendered (see api/ops.py)."""
        return {"sections": render_sections(s)}

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

    migrations = None  # the migration state is SQLite only: partitions as sources
    if not settings.state_path.startswith("dynamodb://"):
        from ..migrate.state import MigrationStore

        migrations = MigrationStore(settings.state_path)
    return AnswerService(executor, store=store_for(settings), vocabulary=vocabulary,
                         knowledge=knowledge, phraser=phraser, migrations=migrations,
                         runner=router_for(settings, executor))
