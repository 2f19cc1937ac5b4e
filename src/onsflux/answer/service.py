"""Question → answer, with the I/O: parse, run the query, find sources, compose.

The one place where the parser (pure), the executor (InfluxDB or the Parquet fallback),
the state store (which ingested objects back the answer) and the knowledge base meet.
``ask`` returns exactly the HTTP API's response (DESIGN.md): the old platform's fields
plus ``status``, ``query_used``, ``influxql_query_used``, ``time_range``, ``warnings`` and
``served_from``. The numbers always come from the query, never from a model.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ..exceptions import OnsfluxError, ParallelSeries
from ..frames import rfc3339
from ..query.execute import Executor
from ..query.render import DIALECTS, render
from ..query.result import QueryResult, Row
from ..query.spec import QuerySpec
from ..state.base import OK, StateStore
from .bedrock import BedrockKnowledge, BedrockPhraser
from .buckets import calendar_start
from .compose import Composed, compose, coverage_of, per_bucket, refuse
from .entities import Vocabulary
from .extent import counts_for, no_data_reason
from .intents import SUBSYSTEMS
from .knowledge import KnowledgeBase, Passage
from .parse import ParsedQuestion, parse
from .present import candidate_question, display

MAX_SERIES_ROWS = 1000


class SpecRunner(Protocol):
    """Runs a spec: the ``Executor``, or the cutover ``Router`` in front of it."""

    def run(self, spec: QuerySpec, *, window_note: bool = True) -> QueryResult: ...


@dataclass
class Source:
    document: str
    relevance_score: float
    time_range: dict[str, str] | None

    def as_dict(self) -> dict[str, Any]:
        return {"document": self.document, "relevance_score": self.relevance_score,
                "time_range": self.time_range}


def object_sources(store: StateStore | None, spec: QuerySpec) -> tuple[list[Source], float | None]:
    """Ingested objects whose measurement and time range overlap the query, and coverage.

    Relevance is the share of the query's period the object covers (0–1). One lookup
    by measurement and time (``objects_overlapping``): never a scan of the store.
    """
    if store is None:
        return [], None
    start, stop = spec.start_ns, spec.stop_ns
    spans: list[tuple[int, int]] = []
    out: list[Source] = []
    for o in store.objects_overlapping(spec.measurement, start, stop):
        if o.status != OK or o.time_min_ns is None or o.time_max_ns is None:
            continue
        spans.append((o.time_min_ns, o.time_max_ns))
        share = coverage_of([(o.time_min_ns, o.time_max_ns)], start, stop)
        out.append(Source(o.key, round(share, 3),
                          {"start": rfc3339(o.time_min_ns), "stop": rfc3339(o.time_max_ns)}))
    out.sort(key=lambda s: -s.relevance_score)
    return out, coverage_of(spans, start, stop)


class PartitionSource(Protocol):
    """Where migrated partitions are recorded (``migrate.state.MigrationStore``)."""

    def partitions_overlapping(self, measurement: str, start_ns: int, stop_ns: int
                               ) -> list[Any]: ...


def partition_sources(migrations: PartitionSource | None, spec: QuerySpec) -> list[Source]:
    """Migrated partitions (Timestream history) behind the query's period, named like
    ``timestream://db/table · partition ID``; relevance = share of the period covered."""
    if migrations is None:
        return []
    start, stop = spec.start_ns, spec.stop_ns
    out = []
    for p in migrations.partitions_overlapping(spec.measurement, start, stop):
        first = p.written_min_ns if p.written_min_ns is not None else p.start_ns
        last = p.written_max_ns if p.written_max_ns is not None else p.stop_ns - HOUR_NS
        share = coverage_of([(first, last)], start, stop)
        out.append(Source(f"{p.migration} · {p.table_name} · partition {p.id}", round(share, 3),
                          {"start": rfc3339(first), "stop": rfc3339(last)}))
    return sorted(out, key=lambda s: -s.relevance_score)


HOUR_NS = 3_600_000_000_000
_MAX_WINDOWS = 2_000


def data_coverage(runner: SpecRunner, spec: QuerySpec, now: datetime) -> float | None:
    """Share of the period's sample windows that hold data, measured on the data itself.

    Counts the points per sample interval (one hour for ONS data; one day when the period
    has more than 2,000 hours) across every series the filters select, up to the last
    whole interval before ``now``, and divides the windows with points by the windows
    expected. Data from any origin counts — ingested files, migrated history — which
    ingest records alone cannot see. None when the period lies in the future or the
    count cannot be run.
    """
    step = max(int(spec.interval_hours * HOUR_NS), HOUR_NS)
    horizon = min(spec.stop_ns, int(now.timestamp() * 1e9))
    if (horizon - spec.start_ns) // step > _MAX_WINDOWS:
        step = 24 * HOUR_NS
    expected = (horizon - spec.start_ns) // step
    if expected <= 0:
        return None
    stop = spec.start_ns + expected * step
    try:
        probe = spec.replace(
            stop=datetime.fromtimestamp(stop / 1e9, UTC).isoformat(),
            every="1d" if step == 24 * HOUR_NS else f"{step // HOUR_NS}h",
            aggregate="count", group_by=[], top=None, bottom=None, fill="none", order="asc",
            limit=min(expected + 10, 1_000_000))
        rows = runner.run(probe, window_note=False).rows
    except OnsfluxError:
        return None
    found = {r.time_ns for r in rows
             if r.value and spec.start_ns - step < r.time_ns < stop}
    return min(len(found) / expected, 1.0)


class AnswerService:
    """Answers questions against one executor, state store and knowledge base."""

    def __init__(
        self,
        executor: Executor,
        *,
        store: StateStore | None = None,
        knowledge: KnowledgeBase | BedrockKnowledge | None = None,
        vocabulary: Vocabulary | None = None,
        phraser: BedrockPhraser | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        runner: SpecRunner | None = None,
        migrations: PartitionSource | None = None,
    ) -> None:
        """``runner``: what runs the specs when not the executor itself (the cutover
        router, which serves each spec from the backend its phase says)."""
        self.executor = executor
        self.runner: SpecRunner = runner if runner is not None else executor
        self.store = store
        self.migrations = migrations
        self.knowledge = knowledge or KnowledgeBase.from_folder()
        self.vocabulary = vocabulary
        self.phraser = phraser
        self.now = now
        plants = (vocabulary or Vocabulary.default()).plants
        self._names = {slug: entry.name for slug, entry in plants.items()}

    def ask(self, question: str) -> dict[str, Any]:
        started = time.perf_counter()
        now = self.now()
        parsed = parse(question, now=now, vocabulary=self.vocabulary)
        result: QueryResult | None = None
        sources: list[Source] = []
        if parsed.status == "ok" and parsed.spec is not None:
            # the parser already words the spec's daylight-saving note in the question's language
            try:
                result = self.runner.run(parsed.spec, window_note=False)
            except ParallelSeries as exc:  # a sum would count a quantity twice: no number
                refused = parsed.model_copy(update={"status": "unanswerable",
                                                    "reason": str(exc)})
                return self._response(refused, refuse(refused), None, [], started, now,
                                      self._names)
            counted = parsed.spec  # the data the answer used, for counts and coverage
            if not result.rows:
                sin = sin_from_subsystems(self.runner, parsed.spec)
                if sin is not None:  # the samples behind it are the four subsystems'
                    result = sin
                    counted = parsed.spec.replace(
                        where={**parsed.spec.where, "region": list(SUBSYSTEMS)})
            sources, recorded = object_sources(self.store, parsed.spec)
            sources += partition_sources(self.migrations, parsed.spec)
            sources.sort(key=lambda src: -src.relevance_score)
            measured = data_coverage(self.runner, counted, now)
            coverage = measured if measured is not None else recorded
            # companion queries (samples per window, where the data starts) explain the answer;
            # they go to the executor, not through the cutover router, so that they are not
            # shadowed and compared as if users had asked them
            counts = counts_for(self.executor, counted) if per_bucket(parsed) else None
            composed = compose(parsed, result, coverage=coverage, names=self._names,
                               counts=counts)
            if not result.rows:  # say why: the data starts later, or ended earlier
                why = no_data_reason(self.executor, parsed.spec, now, parsed.language)
                if why:
                    composed.answer = f"{composed.answer} {why}"
            if self.phraser is not None and result.rows:
                text, why_not = self.phraser.phrase(question, composed.answer)
                if text is not None:
                    composed.answer_source = "bedrock"
                    composed.answer = text
                else:
                    composed.warnings.append(why_not or "Bedrock phrasing not used")
            sources += self._passages(parsed)
        else:
            composed = refuse(parsed)
        return self._response(parsed, composed, result, sources, started, now, self._names)

    def close(self) -> None:
        """Close the runner (the cutover router drains its shadow queue) and the executor."""
        if self.runner is not self.executor:
            close = getattr(self.runner, "close", None)
            if close is not None:
                close()
        close_migrations = getattr(self.migrations, "close", None)
        if close_migrations is not None:
            close_migrations()
        self.executor.close()

    def _passages(self, parsed: ParsedQuestion) -> list[Source]:
        hits = self.knowledge.search(parsed.question, k=6)
        best: dict[str, Passage] = {}
        for h in hits:  # one passage per document, the best-scored (hits come best first)
            best.setdefault(h.document, h)
        hits = list(best.values())[:3]
        if not hits:
            return []
        top = hits[0].score or 1.0
        local = isinstance(self.knowledge, KnowledgeBase)
        return [Source(f"kb/{h.document}#{h.title}" if local else h.document,
                       round(h.score / top, 3), None) for h in hits]

    @staticmethod
    def _response(parsed: ParsedQuestion, composed: Composed, result: QueryResult | None,
                  sources: list[Source], started: float, now: datetime,
                  names: dict[str, str] | None = None) -> dict[str, Any]:
        spec = parsed.spec
        flux = influxql = None
        query_used = None
        queries: dict[str, str | None] = {}
        if spec is not None:
            queries = {d: _render_or_none(spec, d) for d in DIALECTS}
            flux, influxql = queries["flux"], queries["influxql"]
        if result is not None:
            query_used = {"dialect": result.dialect, "text": result.query}
        tr = parsed.time_range
        # the data behind the answer: the query's rows, except where the composer picked
        # points out of them (a peak per group); shares and mean power are words only
        if result is None:
            rows = []
        elif {"share", "mean_power"} & set(parsed.postprocess):
            rows = result.rows
        else:
            rows = composed.rows
        return {
            "query_id": str(uuid.uuid4()),
            "question": parsed.question,
            "answer": composed.answer,
            "confidence_score": composed.confidence,
            "time_series_data": [r.as_dict() for r in rows[:MAX_SERIES_ROWS]],
            "flux_query_used": flux,
            "sources": [s.as_dict() for s in sources],
            "processing_time_ms": round((time.perf_counter() - started) * 1000, 2),
            "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "status": parsed.status,
            "query_used": query_used,
            "influxql_query_used": influxql,
            "time_range": None if tr is None else {
                "start": tr.start.isoformat(), "stop": tr.stop.isoformat(),
                "timezone": tr.timezone, "expression": tr.expression,
            },
            "warnings": composed.warnings,
            "served_from": None if result is None else result.served_from,
            "language": parsed.language,
            "intent": parsed.intent,
            "confidence_parts": composed.confidence_parts,
            "candidates": [{"kind": c.kind, "value": c.value, "label": c.label,
                            "question": candidate_question(parsed, c)}
                           for c in parsed.candidates],
            "truncated": bool(result and (result.truncated or len(rows) > MAX_SERIES_ROWS)),
            "answer_source": composed.answer_source,
            # every dialect's rendering of the spec (None where a dialect cannot say it)
            "queries": queries,
            # how to show it: chart kind, titles, units, people's names (answer/present.py)
            "display": None if result is None else display(parsed, rows[:MAX_SERIES_ROWS],
                                                           names),
        }


_REDUCE = {"max", "min", "mean", "first", "last", "sum", "energy"}


def sin_from_subsystems(executor: SpecRunner, spec: QuerySpec) -> QueryResult | None:
    """Whole-system load when no ``sin`` series is stored (ONS files publish only the
    four subsystems): the hour-by-hour sum of the subsystems, reduced as the spec asks.

    Only hours where all four subsystems have a value are summed: an hour missing one
    would be a partial system, lower than the real one (a false minimum, a low mean). The
    hours left out, and which subsystems they miss, are said in a warning.

    Returns None when the spec is not a whole-system load question this can answer.
    """
    if (spec.measurement != "consumption_data" or spec.where.get("region") != ("sin",)
            or spec.aggregate not in _REDUCE or spec.group_by
            or spec.every not in (None, "1h", "1d", "7d")):
        return None
    try:
        hourly = spec.replace(where={**spec.where, "region": list(SUBSYSTEMS)}, every="1h",
                              aggregate="mean", group_by=["region"], top=None, bottom=None,
                              limit=1_000_000, fill="none")
    except OnsfluxError:
        return None
    result = executor.run(hourly, window_note=False)
    per_hour: dict[int, dict[str, float]] = {}
    for r in result.rows:
        if r.value is not None and r.tags.get("region") in SUBSYSTEMS:
            per_hour.setdefault(r.time_ns, {})[r.tags["region"]] = r.value
    if not per_hour:
        return None
    tags = {"region": "sin"}
    complete = {t: sum(v.values()) for t, v in per_hour.items() if len(v) == len(SUBSYSTEMS)}
    incomplete = {t: sorted(set(SUBSYSTEMS) - set(v)) for t, v in per_hour.items()
                  if len(v) < len(SUBSYSTEMS)}
    warnings = [*result.warnings,
                "the whole-system (SIN) load is not stored as its own series here; it was "
                "computed as the hour-by-hour sum of the four subsystems"]
    if incomplete:
        missing = sorted({s for names in incomplete.values() for s in names})
        first = min(incomplete)
        warnings.append(
            f"{len(incomplete)} hour(s) left out of the SIN sum because a subsystem has no value "
            f"there ({', '.join(missing)} missing; first at {rfc3339(first)}); "
            f"{len(complete)} complete hour(s) used")
    rows: list[Row] = []
    if complete and spec.every:  # windows: the complete hours of each local day/week
        unit = {"1d": "day", "7d": "week"}.get(spec.every)
        windows: dict[int, dict[int, float]] = {}
        for t, v in complete.items():
            windows.setdefault(calendar_start(t, unit) if unit else t, {})[t] = v
        for w, hours in sorted(windows.items()):
            rows.append(_reduce_hours(hours, spec, w, tags))
    elif complete:
        rows = [_reduce_hours(complete, spec, spec.start_ns, tags)]
    return QueryResult(rows, False, result.served_from, result.dialect, result.query,
                       result.elapsed_ms, warnings)


def _reduce_hours(hours: dict[int, float], spec: QuerySpec, at: int,
                  tags: dict[str, str]) -> Row:
    """One value from whole-system hourly sums, as the spec's aggregate asks."""
    field = spec.fields[0]
    agg = spec.aggregate
    if agg in ("max", "min"):
        t = (max if agg == "max" else min)(hours, key=lambda k: hours[k])
        return Row(t, spec.measurement, field, hours[t], tags)
    if agg in ("first", "last"):
        t = (min if agg == "first" else max)(hours)
        return Row(t, spec.measurement, field, hours[t], tags)
    total = sum(hours.values())
    if agg == "mean":
        total /= len(hours)
    elif agg == "energy":
        total *= spec.interval_hours
    return Row(at, spec.measurement, field, total, tags)


def _render_or_none(spec: QuerySpec, dialect: str) -> str | None:
    try:
        return render(spec, dialect).text
    except OnsfluxError:
        return None
