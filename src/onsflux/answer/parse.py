"""The front door: a question in Portuguese or English → :class:`ParsedQuestion`. Pure.

``parse(question, now=..., vocabulary=...)`` never touches the network or a database;
``now`` makes every relative time expression reproducible. The result says whether the
question can be answered (``ok`` with a :class:`~onsflux.query.QuerySpec`), needs a
choice (``ambiguous`` with ``candidates``, each carrying the spec it would run) or must
be refused (``unanswerable`` with a ``reason`` in the question's language). Tag filters
only ever hold slugs resolved through the catalog or the :class:`Vocabulary`; the
question's text never reaches a query.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import catalog
from ..exceptions import OnsfluxError
from ..query.spec import QuerySpec
from . import intents as it
from .entities import (
    KNOWN_WORDS,
    EntityMatch,
    PlantGroup,
    Vocabulary,
    find_measures,
    find_plants_exact,
    find_plants_fuzzy,
    find_regions,
    find_sectors,
    find_sources,
    find_states,
    mask,
    normalize,
)
from .timeexpr import (
    DAY_FILTERS,
    DEFAULT_DAYS,
    LOCAL,
    TimeMatch,
    default_range,
    find_time,
    grain_for,
    unexplained_period,
)

__all__ = [
    "MAX_QUESTION_CHARS",
    "Candidate",
    "ParsedQuestion",
    "Signals",
    "TimeRange",
    "detect_language",
    "parse",
]

Status = Literal["ok", "ambiguous", "unanswerable"]
Language = Literal["pt", "en"]
MAX_QUESTION_CHARS = 500
#: data older than this is gone (the buckets' retention policy, ``catalog.RETENTION``)
RETENTION_DAYS = int(catalog.RETENTION.rstrip("d"))


class TimeRange(BaseModel):
    """The resolved ``[start, stop)`` interval (aware datetimes in ``timezone``)."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    stop: datetime
    timezone: str = catalog.TIMEZONE
    expression: str | None = None
    """the words of the question that named it; None when the default was applied"""
    kind: str = "default"
    """day, day_range, date_range, week, month, quarter, semester, season, year, since,
    rolling, today, yesterday, or default"""
    defaulted: bool = False
    grain: str | None = None
    """the window of a trend (1h, 1d, 7d), None for other intents"""


class Candidate(BaseModel):
    """One way to read an ambiguous question, with the query it would run."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["plant", "measure"]
    value: str
    """a plant slug or a field name"""
    label: str
    spec: QuerySpec | None = None


class Signals(BaseModel):
    """Raw inputs to a confidence score; the composer turns them into one number."""

    model_config = ConfigDict(frozen=True)

    fuzzy_scores: list[float] = Field(default_factory=list)
    alias_matches: int = 0
    defaults: int = 0
    narrowed_by_context: int = 0
    unknown_words: list[str] = Field(default_factory=list)


class ParsedQuestion(BaseModel):
    """What the parser understood; ``spec`` is set only when ``status == "ok"``.

    ``postprocess`` lists the steps the composer applies to the rows: ``share`` (values
    → shares of their total), ``mean_power`` (MWh ÷ hours of the range = average MW),
    ``peak_per_group``/``minimum_per_group``/``latest_per_group`` (pick per group among
    hourly sums).
    """

    model_config = ConfigDict(frozen=True)

    question: str
    status: Status
    language: Language
    intent: str | None = None
    spec: QuerySpec | None = None
    time_range: TimeRange | None = None
    entities: list[EntityMatch] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    defaults_applied: list[str] = Field(default_factory=list)
    postprocess: list[str] = Field(default_factory=list)
    signals: Signals = Field(default_factory=Signals)


# ------------------------------------------------------------------ language

_PT = frozenset("""
o a os as de do da dos das em no na nos nas qual quais quanto quanta foi foram geracao
carga ultimos ultimas semana ontem hoje entre para com e mes ano usinas que como por maior
menor media pico mais menos consumo demanda regiao intercambio perdas fator passada
passado desde este esta nesta neste ate gerou geraram verao inverno trimestre primeiro
janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro dezembro
mostre compare participacao eolica hidreletrica termica usina
""".split())  # noqa: SIM905 - a word list reads better as text
_EN = frozenset("""
the of in what which how was were is are last week yesterday today between for with and
month year plants generation load demand average peak did much many show me top by from to
since this past days hours compare share wind hydro thermal plant generated highest lowest
total latest current trend capacity factor losses interchange flow summer winter quarter
january february march april may june july august september october november december
during over
""".split())  # noqa: SIM905 - a word list reads better as text


def detect_language(folded: str) -> Language:
    words = re.findall(r"[a-z]+", folded)
    pt = sum(w in _PT for w in words)
    en = sum(w in _EN for w in words)
    return "en" if en > pt else "pt"


def _t(lang: str, pt: str, en: str) -> str:
    return pt if lang == "pt" else en


# ------------------------------------------------------------------ parse

def parse(question: str, *, now: datetime, vocabulary: Vocabulary | None = None) -> ParsedQuestion:
    """Parse ``question`` relative to ``now`` (naive ``now`` is read in America/Sao_Paulo)."""
    vocab = vocabulary or Vocabulary.default()
    now = (now.replace(tzinfo=LOCAL) if now.tzinfo is None else now).astimezone(LOCAL)
    now = now.replace(microsecond=0)
    text = question[:MAX_QUESTION_CHARS]
    cased, folded = normalize(text)
    lang = detect_language(folded)
    return _Parser(question, cased, folded, lang, now, vocab).run()


class _Parser:
    """One question through the steps of :meth:`run` (each a method, in order)."""

    spans: list[tuple[int, int]]
    tag_spans: list[tuple[int, int]]
    unknown: list[str]
    groups: list[PlantGroup]
    plants: list[str]
    ambiguous: list[PlantGroup]
    state_matches: list[EntityMatch]
    measures: list[EntityMatch]
    regions: list[EntityMatch]
    sources: list[EntityMatch]
    sectors: list[EntityMatch]
    state_values: list[str]
    region_values: list[str]
    source_values: list[str]
    sector_values: list[str]

    def __init__(self, question: str, cased: str, folded: str, lang: Language, now: datetime,
                 vocab: Vocabulary) -> None:
        self.question, self.cased, self.folded = question, cased, folded
        self.lang, self.now, self.vocab = lang, now, vocab
        self.warnings: list[str] = []
        self.defaults: list[str] = []
        self.entities: list[EntityMatch] = []
        self.narrowed = 0
        self.states: list[str] = []  # state filter for generation (set once the measure is known)
        self.day_filter: str | None = None
        # what the steps of ``run`` find, in order (each step reads what the earlier set)
        self.tm: TimeMatch | None = None
        self.spans, self.tag_spans, self.unknown = [], [], []
        self.groups, self.plants, self.ambiguous = [], [], []
        self.state_matches, self.measures, self.regions, self.sources, self.sectors = (
            [], [], [], [], [])
        self.state_values, self.region_values, self.source_values, self.sector_values = (
            [], [], [], [])
        self.mod = it.Modifiers()
        self.start = self.stop = now
        self.expression: str | None = None
        self.kind, self.fld = "default", ""

    def t(self, pt: str, en: str) -> str:
        return _t(self.lang, pt, en)

    def result(self, status: Status, **kw: Any) -> ParsedQuestion:
        fuzzy = [e.score for e in self.entities if e.match == "fuzzy"]
        aliases = sum(e.match == "alias" for e in self.entities)
        signals = Signals(fuzzy_scores=fuzzy, alias_matches=aliases, defaults=len(self.defaults),
                          narrowed_by_context=self.narrowed,
                          unknown_words=kw.pop("unknown_words", []))
        return ParsedQuestion(question=self.question, status=status, language=self.lang,
                              entities=sorted(self.entities, key=lambda e: e.span),
                              warnings=self.warnings, defaults_applied=self.defaults,
                              signals=signals, **kw)

    def refuse(self, code: str, detail: dict[str, str] | None = None, **kw: Any) -> ParsedQuestion:
        return self.result("unanswerable", reason=it.reason(code, self.lang, **(detail or {})),
                           **kw)

    def _period_refusal(self, tm: TimeMatch | None, text: str) -> ParsedQuestion | None:
        """A named period that cannot be answered: refuse with the reason, never fall back
        to the default period."""
        if tm is None:
            return None
        words = self.cased[tm.span[0]:tm.span[1]].strip()
        if tm.invalid:
            return self.refuse("period_invalid", {"detail": words})
        if tm.future:
            return self.refuse("forecast" if tm.kind == "future" else "period_future",
                               {"detail": words})
        kept_from = self.now - timedelta(days=RETENTION_DAYS)
        if tm.stop <= kept_from:
            since = f"{kept_from:%d/%m/%Y}" if self.lang == "pt" else f"{kept_from:%Y-%m-%d}"
            return self.refuse("period_retention", {"detail": words, "since": since})
        return None

    # -------------------------------------------------------------- main flow

    def run(self) -> ParsedQuestion:
        """The steps in order; each either answers (a refusal, an ambiguity) or goes on."""
        for step in (self._screen, self._find_period, self._find_entities, self._check_scope,
                     self._resolve_plants, self._resolve_time, self._choose_measure,
                     self._scope_to_measure):
            answer = step()
            if answer is not None:
                return answer
        if self.ambiguous:
            return self._ambiguous_plant()
        return self._answer()

    def _screen(self) -> ParsedQuestion | None:
        """No words, an injection, or a subject out of scope: refuse before anything else."""
        folded = self.folded
        if not re.search(r"[a-z]", folded):
            return self.refuse("unknown")
        if it.refusal(folded, self.question) == "injection":
            return self.refuse("injection")
        # out-of-scope words are looked for outside plant names ("Futura" is a solar park)
        code = it.refusal(mask(folded, [g.span for g in find_plants_exact(self.vocab, folded)]),
                          self.question)
        return self.refuse(code) if code else None

    def _find_period(self) -> ParsedQuestion | None:
        """The time expression (refused when it cannot be answered) and a day filter."""
        folded = self.folded
        self.tm = tm = find_time(folded, self.now)
        refused = self._period_refusal(tm, folded)
        if refused is not None:
            return refused
        self.spans = [tm.span] if tm else []
        for name, rx in DAY_FILTERS:
            fm = rx.search(mask(folded, self.spans))
            if fm is not None:
                self.day_filter = name
                self.spans.append(fm.span())
                break
        return None

    def _find_entities(self) -> None:
        """Plants, states, measures, regions, sources and sectors, each in what the
        previous ones left (names before words: "Norte Fluminense" is a plant, not the North)."""
        folded, cased, spans = self.folded, self.cased, self.spans
        self.groups = find_plants_exact(self.vocab, mask(folded, spans))
        spans += [g.span for g in self.groups]
        self.state_matches = find_states(mask(folded, spans), cased)
        spans += [s.span for s in self.state_matches]
        self.measures = find_measures(mask(folded, spans), cased)
        mspans = [m.span for m in self.measures]
        names_masked = mask(folded, spans + mspans)
        self.regions = find_regions(names_masked, mask(cased, spans + mspans), self.lang)
        self.sources = find_sources(mask(names_masked, [r.span for r in self.regions]), cased,
                                    self.lang)
        self.tag_spans = [e.span for e in (*self.regions, *self.sources)]
        self.sectors = find_sectors(mask(names_masked, self.tag_spans), cased, self.lang)
        self.tag_spans += [e.span for e in self.sectors]
        rest = mask(folded, spans + mspans + self.tag_spans)
        fuzzy = find_plants_fuzzy(self.vocab, rest)
        self.groups += fuzzy
        rest = mask(rest, [g.span for g in fuzzy])
        self.unknown = [w for w in re.findall(r"[a-z]+", rest)
                        if w not in KNOWN_WORDS and len(w) > 2]

    def _check_scope(self) -> ParsedQuestion | None:
        """Refusals that need the entities (off-topic words, unknown periods and plants),
        the "why" warning, and the modifiers (aggregate, ranking, grouping)."""
        folded, spans, groups = self.folded, self.spans, self.groups
        # scope: common words hint at an out-of-scope subject only when nothing of the
        # catalog is named ("qual a capital do Brasil?" vs "carga do SIN, região da capital")
        soft = it.soft_refusal(mask(folded, [g.span for g in groups]))
        if soft and not (self.measures or groups or self.sources or self.sectors):
            return self.refuse(soft, unknown_words=self.unknown)
        if it.WHY.search(folded):
            self.warnings.append(self.t(
                "os dados mostram o que aconteceu, não as causas: esta resposta traz os números, "
                "não o porquê", "the data shows what happened, not its causes: this answer "
                "gives the numbers, not the why"))
        hint = unexplained_period(mask(folded, spans + [g.span for g in groups]))
        if hint is not None:
            return self.refuse("period_unknown", {"detail": hint}, unknown_words=self.unknown)
        if not groups and it.named_unknown_plant(mask(folded, spans), KNOWN_WORDS):
            return self.refuse("unknown_plant", unknown_words=self.unknown)
        self.mod = it.detect_modifiers(mask(folded, spans + [g.span for g in groups]
                                            + self.tag_spans))
        self.entities += (self.measures + self.regions + self.sources + self.sectors
                          + self.state_matches)
        self.state_values = _unique(s.value for s in self.state_matches)
        self.region_values = _unique(r.value for r in self.regions)
        self.source_values = _unique(s.value for s in self.sources)
        self.sector_values = _unique(s.value for s in self.sectors)
        return None

    def _resolve_plants(self) -> None:
        """Each plant group: one plant, narrowed by region/source context, or ambiguous."""
        cased = self.cased
        region_values, source_values = self.region_values, self.source_values
        self.plants, self.ambiguous = [], []
        for g in self.groups:
            slugs = set(g.slugs)
            if len(slugs) > 1:
                narrowed = {s for s in slugs
                            if (not region_values or self.vocab.plants[s].region in region_values)
                            and (not source_values or self.vocab.plants[s].source in source_values)}
                if len(narrowed) == 1 and (region_values or source_values):
                    slugs = narrowed
                    self.narrowed += 1
            if len(slugs) == 1:
                slug_ = next(iter(slugs))
                entry = self.vocab.plants[slug_]
                if slug_ not in self.plants:
                    self.plants.append(slug_)
                self.entities.append(EntityMatch(
                    kind="plant", text=cased[g.span[0]:g.span[1]], value=slug_, display=entry.name,
                    match=g.match, score=g.score, span=g.span))
                if g.match == "fuzzy":
                    self.warnings.append(self.t(f"“{cased[g.span[0]:g.span[1]]}” entendido como "
                                                f"{entry.name}",
                                                f"“{cased[g.span[0]:g.span[1]]}” read as {entry.name}"))
            else:
                self.ambiguous.append(PlantGroup(g.text, g.span, frozenset(slugs), g.match,
                                                 g.score))

    def _resolve_time(self) -> None:
        """[start, stop): the period named, cut at the retention, or the default one."""
        tm = self.tm
        if tm is None:
            self.start, self.stop = default_range(self.now)
            self.defaults.append(f"time_range:last_{DEFAULT_DAYS}_days")
            self.warnings.append(self.t(f"nenhum período informado: considerados os últimos "
                                        f"{DEFAULT_DAYS} dias",
                                        f"no time given: last {DEFAULT_DAYS} days assumed"))
            self.expression, self.kind = None, "default"
            return
        self.start, self.stop = tm.start, tm.stop
        self.expression, self.kind = self.cased[tm.span[0]:tm.span[1]], tm.kind
        kept_from = self.now - timedelta(days=RETENTION_DAYS)
        if self.start < kept_from:
            self.start = kept_from
            self.warnings.append(self.t(
                f"os dados são guardados por 7 anos: o período começa em {kept_from:%d/%m/%Y}, "
                "não antes",
                f"data is kept for 7 years: the period starts on {kept_from:%Y-%m-%d}, "
                "not earlier"))
        if self.kind == "season":
            self.warnings.append(self.t(
                "estações do hemisfério sul em datas fixas (verão: 21/12 a 20/03, com início "
                "no dezembro do ano anterior)",
                "southern-hemisphere seasons on fixed dates (summer: Dec 21 – Mar 20, "
                "starting in December of the previous year)"))

    def _measures_ambiguous(self, fields: list[str]) -> ParsedQuestion:
        return self._ambiguous_measures(fields, self.start, self.stop, self.expression,
                                        self.kind, self.tm is None, self.mod,
                                        self.region_values, self.unknown)

    def _choose_measure(self) -> ParsedQuestion | None:
        """The one field asked about, a default one, or an ambiguity between measures."""
        mod = self.mod
        fields = _unique(m.value for m in self.measures)
        specific = [f for f in fields if f not in ("power_mw", "demand_mw")]
        if "losses_mwh" in specific and "flow_mw" in specific:
            specific.remove("flow_mw")  # "perdas no intercâmbio": the interchange names the lines
        if len(set(map(catalog.FIELD_TO_MEASUREMENT.get, specific))) > 1 or len(specific) > 1:
            return self._measures_ambiguous(specific)
        if specific:
            self.fld = specific[0]
        elif "power_mw" in fields and "demand_mw" in fields:
            return self._measures_ambiguous(["power_mw", "demand_mw"])
        elif fields:
            self.fld = fields[0]
        elif self.plants or self.ambiguous or self.source_values or mod.share or (
                mod.ranking and mod.ranking_subject in ("plant", "source")):
            self.fld = "power_mw"
            self.defaults.append("measure:power_mw")
        elif (self.region_values or self.sector_values) and mod.quantity:
            return self._measures_ambiguous(["power_mw", "demand_mw"])
        else:
            return self.refuse("unknown", unknown_words=self.unknown)
        return None

    def _scope_to_measure(self) -> ParsedQuestion | None:
        """Drop (with a warning) or refuse what the chosen measure does not have."""
        measurement = catalog.FIELD_TO_MEASUREMENT[self.fld]
        if measurement == "generation_data" and self.sector_values:
            self.sector_values = []
        if measurement != "generation_data" and (self.state_values or self.mod.group_by == "state"):
            if self.mod.group_by == "state" or not self.region_values:
                return self.refuse("state_scope", unknown_words=self.unknown)
            # a state named beside a subsystem is context ("o Sudeste, onde fica São Paulo")
            self.warnings.append(self.t(
                "estado ignorado: carga e intercâmbio são por subsistema",
                "state ignored: load and interchange are per subsystem"))
            self.state_values = []
        self.states = self.state_values if not self.plants else []
        if measurement != "generation_data" and (self.plants or self.ambiguous):
            self.warnings.append(self.t("usinas ignoradas: a medida não é de geração",
                                        "plants ignored: the measure is not generation"))
            self.plants, self.ambiguous = [], []
        if measurement != "generation_data" and self.source_values:
            self.warnings.append(self.t("fonte ignorada: a medida não é de geração",
                                        "source ignored: the measure is not generation"))
            self.source_values = []
        return None

    def _time_range(self, grain: str | None = None) -> TimeRange:
        return TimeRange(start=self.start, stop=self.stop, expression=self.expression,
                         kind=self.kind, defaulted=self.tm is None, grain=grain)

    def _ambiguous_plant(self) -> ParsedQuestion:
        """One candidate spec per plant a name could be."""
        g = self.ambiguous[0]
        cands = []
        intent = None
        for slug_ in sorted(g.slugs):
            plan, intent = self._plan(self.fld, self.mod, self.region_values, self.source_values,
                                      self.sector_values, [slug_], self.regions, quiet=True)
            spec, _, _ = self._spec(plan, self.start, self.stop, self.mod)
            cands.append(Candidate(kind="plant", value=slug_,
                                   label=self.vocab.plants[slug_].name, spec=spec))
        text = self.cased[g.span[0]:g.span[1]]
        names = ", ".join(c.label for c in cands)
        return self.result("ambiguous", intent=intent, candidates=cands,
                           time_range=self._time_range(),
                           reason=self.t(f"“{text}” pode ser: {names}",
                                         f"“{text}” could be: {names}"),
                           unknown_words=self.unknown)

    def _answer(self) -> ParsedQuestion:
        """The plan, the spec and its warnings."""
        plan, intent = self._plan(self.fld, self.mod, self.region_values, self.source_values,
                                  self.sector_values, self.plants, self.regions)
        try:
            spec, grain, post = self._spec(plan, self.start, self.stop, self.mod)
        except OnsfluxError as exc:
            return self.refuse("other", unknown_words=[str(exc)])
        if spec.window_note is not None:  # day windows start at local midnight, but DST...
            self.warnings.append(self.t(
                f"janelas de {spec.every} seguem o fuso de Brasília do início do período; com o "
                "horário de verão (até 2019) algumas começam à 01h ou às 23h",
                f"{spec.every} windows follow the Brasília UTC offset at the start of the range; "
                "with daylight saving time (until 2019) some start at 01:00 or 23:00"))
        return self.result("ok", intent=intent, spec=spec,
                           time_range=self._time_range(grain),
                           postprocess=post, unknown_words=self.unknown)

    # -------------------------------------------------------------- pieces

    def _ambiguous_measures(self, fields: list[str], start: datetime, stop: datetime,
                            expression: str | None, kind: str, defaulted: bool,
                            mod: it.Modifiers, regions: list[str],
                            unknown: list[str]) -> ParsedQuestion:
        labels = {
            "power_mw": self.t("geração", "generation"), "demand_mw": self.t("carga", "load"),
            "flow_mw": self.t("intercâmbio", "interchange"), "losses_mwh": self.t("perdas", "losses"),
            "capacity_factor": self.t("fator de capacidade", "capacity factor"),
            "load_factor": self.t("fator de carga", "load factor"),
            "availability": self.t("disponibilidade", "availability"),
            "efficiency": self.t("eficiência", "efficiency"),
            "voltage_kv": self.t("tensão", "voltage"),
        }
        cands = []
        intent = None
        for f in fields:
            plan, intent = self._plan(f, mod, regions, [], [], [], [], quiet=True)
            spec, _, _ = self._spec(plan, start, stop, mod)
            cands.append(Candidate(kind="measure", value=f, label=labels[f], spec=spec))
        return self.result(
            "ambiguous", intent=intent, candidates=cands,
            time_range=TimeRange(start=start, stop=stop, expression=expression, kind=kind,
                                 defaulted=defaulted),
            reason=self.t("qual medida? " + " ou ".join(c.label for c in cands),
                          "which measure? " + " or ".join(c.label for c in cands)),
            unknown_words=unknown)

    def _plan(self, fld: str, mod: it.Modifiers, regions: list[str], sources: list[str],
              sectors: list[str], plants: list[str], region_matches: list[EntityMatch],
              quiet: bool = False) -> tuple[it.Plan, str]:
        measurement = catalog.FIELD_TO_MEASUREMENT[fld]
        plan = it.Plan(measurement=measurement, field=fld, modifier=mod.aggregate_word)
        real_regions = [r for r in regions if r != "sin"]
        intent: str | None = None

        def note_default(item: str) -> None:
            if not quiet and item not in self.defaults:
                self.defaults.append(item)

        if measurement == "generation_data":
            if plants:
                plan.where["plant"] = list(plants)
            else:
                if real_regions:
                    plan.where["region"] = real_regions
                if sources:
                    plan.where["source"] = list(sources)
                if self.states:
                    plan.where["state"] = list(self.states)
        elif measurement == "consumption_data":
            plan.where["region"] = list(regions) if regions else ["sin"]
            if not regions:
                note_default("region:sin")
            if sectors:
                plan.where["sector"] = list(sectors)
        else:
            self._transmission(plan, fld, region_matches, quiet)

        # grouping: several named things of one kind, or "por região"/"by source"
        group: str | None = None
        multi = {"plant": len(plants) > 1, "source": len(sources) > 1,
                 "region": len(regions if measurement == "consumption_data" else real_regions) > 1}
        if measurement == "transmission_data":
            multi["region"] = False
        for tag in ("region", "source", "plant"):
            if multi[tag]:
                group = tag
                break
        if group is None and mod.group_by and (
                measurement == "generation_data" if mod.group_by == "state"
                else measurement != "consumption_data" or mod.group_by == "region"):
            group = mod.group_by
        if mod.share:
            intent = "share"
            if measurement == "generation_data":
                group = group if group in ("region", "plant") and mod.group_by else "source"
                plan.where.pop("source", None)
                if plants and group != "plant":
                    plan.where.pop("plant", None)
            else:
                group = "region"
            plan.modifier = "total"
            plan.share = True
        elif mod.ranking:
            intent = "ranking"
            subject = mod.ranking_subject
            if measurement == "transmission_data":
                subject = "line" if subject == "line" else "from_region"
                plan.group_by = []
            elif subject == "line" or (measurement != "generation_data" and subject != "region"):
                subject = "region"
            group = subject
            n = mod.n
            if n is None:
                n = 5
                note_default("top_n:5")
            if mod.growth:
                plan.growth = ("bottom" if mod.bottom else "top", n)
            else:
                plan.rank = ("bottom" if mod.bottom else "top", n)
        elif group is not None or mod.compare:
            intent = "comparison"
        if group is not None:
            if measurement == "consumption_data" and group == "region" and plan.where.get(
                    "region") == ["sin"]:
                plan.where["region"] = list(it.SUBSYSTEMS)
                if "region:sin" in self.defaults and not quiet:
                    self.defaults.remove("region:sin")
            if group not in plan.group_by:
                plan.group_by.append(group)
        if intent is None:
            if fld == "capacity_factor":
                intent = "capacity_factor"
            elif fld == "losses_mwh":
                intent = "losses"
            elif fld == "flow_mw":
                intent = "interchange"
            elif mod.breakdown:
                intent = "trend"
            elif mod.aggregate_word:
                intent = mod.aggregate_word
            else:
                intent = "total" if fld == "power_mw" or fld == "losses_mwh" else "average"
                note_default(f"intent:{intent}")
        # in a ranking, "peak"/"minimum" come only from a noun ("o maior pico"): they choose
        # the measure ranked (the peak hour of each group), "maior"/"highest" alone only rank
        plan.breakdown = mod.breakdown
        plan.day_filter = self.day_filter
        plan.total = mod.total
        return plan, intent

    def _transmission(self, plan: it.Plan, fld: str, region_matches: list[EntityMatch],
                      quiet: bool) -> None:
        regs = [r for r in region_matches if r.value != "sin"]
        seen: list[EntityMatch] = []
        for r in regs:
            if r.value not in {s.value for s in seen}:
                seen.append(r)
        if len(seen) >= 2:
            a, b = seen[0], seen[1]
            between = self.folded[a.span[1]:b.span[0]]
            before = self.folded[:a.span[0]]
            if it.BETWEEN.search(before) and not it.DIRECTION_TO.match(between):
                plan.where["from_region"] = [a.value, b.value]
                plan.where["to_region"] = [a.value, b.value]
                self._role(a, None)
                self._role(b, None)
            else:
                plan.where["from_region"] = [a.value]
                plan.where["to_region"] = [b.value]
                self._role(a, "from_region")
                self._role(b, "to_region")
        elif len(seen) == 1:
            r = seen[0]
            role = "to_region" if it.IMPORT.search(self.folded) else "from_region"
            plan.where[role] = [r.value]
            self._role(r, role)
            if fld == "flow_mw":
                plan.group_by.append("to_region" if role == "from_region" else "from_region")
        elif fld == "flow_mw":
            plan.group_by += ["from_region", "to_region"]

    def _role(self, match: EntityMatch, role: str | None) -> None:
        for i, e in enumerate(self.entities):
            if e is match:
                self.entities[i] = e.model_copy(update={"role": role})

    def _spec(self, plan: it.Plan, start: datetime, stop: datetime,
              mod: it.Modifiers) -> tuple[QuerySpec, str | None, list[str]]:
        """The spec for ``plan``, the trend window (None if not a trend), postprocess steps."""
        grain = None
        if plan.growth is not None:
            # change from the first to the last whole bucket: days, or calendar months
            # beyond a quarter, or hours within two days
            grain = "1h" if stop - start <= timedelta(days=2) else "1d"
            plan.monthly = stop - start > timedelta(days=92)
        elif plan.modifier == "trend" or plan.breakdown:
            if mod.monthly:
                grain, plan.monthly = "1d", True  # calendar months, made from local days
            else:
                grain = mod.grain or grain_for(start, stop)
        args, post = it.build_spec_args(plan, start, stop, grain or "1h", catalog.TIMEZONE)
        if plan.monthly and grain is not None:
            grain = "1mo"
        return QuerySpec.parse(args), grain, post


def _unique(values: Any) -> list[str]:
    out: list[str] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out
