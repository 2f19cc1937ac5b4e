"""The answer composer: parsed question + query rows → words, numbers, confidence. Pure.

Every number in the answer comes from the query's rows, formatted for the question's
language (pt-BR ``44.100,5 MW``; en ``44,100.5 MW``), and every time is shown in
Brasília time. The composer never invents a value: with no rows it says so.

Confidence (``confidence_score``, 0–1) starts at 1 and is lowered by what made the
reading less certain:

- fuzzy entity matches: × the lowest match score (0–1);
- each default the parser applied (e.g. no period given → last 7 days): −0.15;
- each entity narrowed by context, e.g. a plant name shared by two plants: −0.1;
- words the parser did not understand: −0.03 each, at most −0.15;
- the data covering only part of the asked period: × the covered fraction;
- an answer served from the Parquet fallback (InfluxDB down): −0.05;
- no rows at all: capped at 0.2.
The result is clamped to [0.05, 1] and rounded to two decimals. ``confidence_parts``
lists each factor so a person can see why, and ``warnings`` says each deduction in the
question's language. The covered fraction is measured on the data (hours with samples
against the hours of the period up to now), so migrated history counts like ingested
files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .. import catalog
from ..query.result import QueryResult, Row
from .buckets import STEP_PREFIXES, apply_step, partial_keys
from .entities import plant_display_name
from .parse import ParsedQuestion
from .timeexpr import DEFAULT_DAYS
from .timeexpr import LOCAL as BRT


def fmt_number(value: float, lang: str, decimals: int | None = None) -> str:
    """``44100.5`` → ``44.100,5`` (pt) or ``44,100.5`` (en); decimals chosen by magnitude."""
    if decimals is None:
        mag = abs(value)
        decimals = 0 if mag >= 1000 else 1 if mag >= 10 else 2 if mag >= 0.1 else 4
    text = f"{value:,.{decimals}f}"
    if lang == "pt":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def fmt_time(ns: int, lang: str, *, hour: bool = True) -> str:
    t = datetime.fromtimestamp(ns / 1e9, UTC).astimezone(BRT)
    if lang == "pt":
        return t.strftime("%d/%m/%Y às %H:%M" if hour else "%d/%m/%Y")
    return t.strftime("%Y-%m-%d at %H:%M" if hour else "%Y-%m-%d")


def _label(tags: dict[str, str], lang: str, names: Mapping[str, str] | None = None) -> str:
    parts = []
    for key in ("region", "source", "plant", "from_region", "to_region", "line", "sector"):
        value = tags.get(key)
        if not value:
            continue
        if key in ("region", "from_region", "to_region") and value in catalog.REGIONS:
            r = catalog.REGIONS[value]
            parts.append(r.name_pt if lang == "pt" else r.name_en)
        elif key == "source" and value in catalog.SOURCES:
            s = catalog.SOURCES[value]
            parts.append(s.name_pt if lang == "pt" else s.name_en)
        else:
            if key == "plant":
                parts.append((names or {}).get(value) or plant_display_name(value))
            else:
                parts.append(value)
    return " / ".join(parts)


@dataclass
class Composed:
    answer: str
    confidence: float
    confidence_parts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    #: "template" (composed here) or "bedrock" (reworded by a model, numbers checked)
    answer_source: str = "template"


def _unit(parsed: ParsedQuestion) -> str:
    spec = parsed.spec
    assert spec is not None
    if spec.aggregate == "energy":
        return "MWh"
    if spec.aggregate == "count":
        return ""
    return spec.measurement_spec.field(spec.fields[0]).unit


def _value(v: float | None, unit: str, lang: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if unit == "ratio":
        return f"{fmt_number(v, lang, 2)} ({fmt_number(100 * v, lang, 1)} %)"
    if unit == "MWh" and abs(v) >= 1e6:
        return f"{fmt_number(v, lang)} MWh ({fmt_number(v / 1e3, lang)} GWh)"
    return f"{fmt_number(v, lang)} {unit}".rstrip()


def postprocess(parsed: ParsedQuestion, rows: list[Row]) -> tuple[list[Row], str]:
    """Apply the parser's postprocess steps; returns the rows and the unit they are in."""
    unit = _unit(parsed)
    spec = parsed.spec
    assert spec is not None
    out = list(rows)
    for step in parsed.postprocess:
        if step == "share":
            total = sum(r.value or 0.0 for r in out) or 1.0
            out = [Row(r.time_ns, r.measurement, r.field, (r.value or 0.0) / total, r.tags)
                   for r in out]
            unit = "share"
        elif step == "mean_power":
            hours = (spec.stop_ns - spec.start_ns) / 3.6e12
            out = [Row(r.time_ns, r.measurement, r.field,
                       None if r.value is None else r.value / hours, r.tags) for r in out]
            unit = "MW"
        elif step in ("peak_per_group", "minimum_per_group", "latest_per_group"):
            groups: dict[tuple[tuple[str, str], ...], Row] = {}
            for r in out:
                if r.value is None:
                    continue
                k = tuple(sorted(r.tags.items()))
                best = groups.get(k)
                if (best is None
                        or (step == "peak_per_group" and r.value > (best.value or -math.inf))
                        or (step == "minimum_per_group" and r.value < (best.value or math.inf))
                        or (step == "latest_per_group" and r.time_ns > best.time_ns)):
                    groups[k] = r
            out = list(groups.values())
        elif step.startswith(STEP_PREFIXES):  # calendar buckets, day filters, growth...
            out = apply_step(step, out, spec, parsed.postprocess)
    return out, unit


def per_bucket(parsed: ParsedQuestion) -> bool:
    """The answer is one value per window (a trend or a breakdown), not reduced to one."""
    spec = parsed.spec
    return bool(spec is not None and spec.every) and not any(
        p.startswith(("reduce:", "growth:", "rank:")) for p in parsed.postprocess)


_DEFAULTS = {  # what a default the parser applied means, as the warning says it
    "measure:power_mw": ("medida não informada: usada a geração",
                         "no measure given: generation used"),
    "region:sin": ("região não informada: usado o sistema inteiro (SIN)",
                   "no region given: the whole system (SIN) used"),
    "top_n:5": ("quantidade não informada: usadas as 5 primeiras", "no count given: top 5 used"),
    "intent:total": ("tipo de resposta não informado: usado o total",
                     "no kind of answer given: the total used"),
    "intent:average": ("tipo de resposta não informado: usada a média",
                       "no kind of answer given: the average used"),
}


def _default_words(item: str, lang: str) -> str:
    if item.startswith("time_range:last_"):
        days = item.removeprefix("time_range:last_").removesuffix("_days")
        return (f"nenhum período informado: usados os últimos {days} dias" if lang == "pt"
                else f"no period given: the last {days} days used")
    pt, en = _DEFAULTS.get(item, (f"valor padrão aplicado ({item})", f"default applied ({item})"))
    return pt if lang == "pt" else en


def deductions(parsed: ParsedQuestion, result: QueryResult | None, coverage: float | None
               ) -> tuple[float, list[str], list[str]]:
    """The confidence, its parts (``confidence_parts``) and one warning per deduction in
    the question's language, so every point taken off is explained where users look."""
    lang = parsed.language
    score, parts, warnings = 1.0, [], []

    def num(v: float) -> str:
        return fmt_number(v, lang, 2)

    def say(pt: str, en: str) -> None:
        warnings.append(pt if lang == "pt" else en)

    sig = parsed.signals
    if sig.fuzzy_scores:
        low = min(sig.fuzzy_scores)
        low = low / 100 if low > 1 else low
        score *= low
        parts.append(f"fuzzy match ×{low:.2f}")
        say(f"confiança ×{num(low)}: um nome foi reconhecido por aproximação",
            f"confidence ×{num(low)}: a name was matched approximately")
    if sig.defaults:
        score -= 0.15 * sig.defaults
        parts.append(f"{sig.defaults} default(s) applied −{0.15 * sig.defaults:.2f}")
        items = list(parsed.defaults_applied)[:sig.defaults]
        for item in items + ["?"] * (sig.defaults - len(items)):
            say(f"confiança −{num(0.15)}: {_default_words(item, lang)}",
                f"confidence −{num(0.15)}: {_default_words(item, lang)}")
    if sig.narrowed_by_context:
        cut = 0.1 * sig.narrowed_by_context
        score -= cut
        parts.append(f"{sig.narrowed_by_context} entity narrowed by context −{cut:.2f}")
        say(f"confiança −{num(cut)}: nome de usina compartilhado, escolhido pela região ou "
            "fonte da pergunta",
            f"confidence −{num(cut)}: a plant name shared by several plants, chosen by the "
            "region or source asked")
    if sig.unknown_words:
        cut = min(0.15, 0.03 * len(sig.unknown_words))
        score -= cut
        parts.append(f"{len(sig.unknown_words)} word(s) not understood −{cut:.2f}")
        words = ", ".join(f"“{w}”" for w in sig.unknown_words[:5])
        say(f"confiança −{num(cut)}: palavras não entendidas: {words}",
            f"confidence −{num(cut)}: words not understood: {words}")
    if coverage is not None and coverage < 0.999:
        score *= max(coverage, 0.0)
        parts.append(f"data covers {coverage:.0%} of the period ×{coverage:.2f}")
        pct = fmt_number(100 * coverage, lang, 0)
        say(f"confiança ×{num(coverage)}: os dados cobrem {pct} % das horas do período",
            f"confidence ×{num(coverage)}: the data covers {pct} % of the period's hours")
    if result is not None and result.served_from == "s3_fallback":
        score -= 0.05
        parts.append("served from the Parquet fallback −0.05")
        say(f"confiança −{num(0.05)}: respondido pelos arquivos Parquet (InfluxDB indisponível)",
            f"confidence −{num(0.05)}: answered from the Parquet files (InfluxDB unavailable)")
    if result is not None and not result.rows:
        score = min(score, 0.2)
        parts.append("no data in the period: at most 0.20")
        say(f"confiança limitada a {num(0.2)}: nenhum dado no período",
            f"confidence capped at {num(0.2)}: no data in the period")
    return round(min(max(score, 0.05), 1.0), 2), parts, warnings


def confidence(parsed: ParsedQuestion, result: QueryResult | None, coverage: float | None
               ) -> tuple[float, list[str]]:
    """The confidence (0.05–1) and the factors behind it (see the module docstring)."""
    score, parts, _ = deductions(parsed, result, coverage)
    return score, parts


def _period(parsed: ParsedQuestion, lang: str) -> str:
    tr = parsed.time_range
    if tr is None:
        return ""
    start = tr.start.astimezone(BRT)
    # the last second of [start, stop), counted in UTC (local arithmetic trips on DST)
    end = (tr.stop.astimezone(UTC) - timedelta(seconds=1)).astimezone(BRT)
    if lang == "pt":
        text = f"de {start:%d/%m/%Y %H:%M} a {end:%d/%m/%Y %H:%M}, horário de Brasília"
    else:
        text = f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} Brasília time"
    days = {"days:weekend": ("só fins de semana", "weekends only"),
            "days:weekday": ("só dias úteis (segunda a sexta)", "weekdays only (Monday–Friday)")}
    for step, (pt, en) in days.items():
        if step in parsed.postprocess:
            text += f", {pt if lang == 'pt' else en}"
    if tr.defaulted:  # the question named no period: say which one was used
        text = (f"nenhum período informado, usados os últimos {DEFAULT_DAYS} dias: {text}"
                if lang == "pt" else f"no period given, the last {DEFAULT_DAYS} days used: {text}")
    return text


_SOURCE_ADJ = {"hydro": ("hidrelétrica", "hydro"), "thermal": ("térmica", "thermal"),
               "wind": ("eólica", "wind"), "solar": ("solar", "solar"),
               "nuclear": ("nuclear", "nuclear"), "other": ("de outras fontes", "other")}
_MEASURES = {
    "demand_mw": ("a carga", "load"), "consumption_mwh": ("o consumo", "consumption"),
    "power_mw": ("a geração", "generation"),
    "capacity_factor": ("o fator de capacidade", "capacity factor"),
    "flow_mw": ("o intercâmbio", "interchange flow"),
    "losses_mwh": ("as perdas", "transmission losses"),
}


def _what(parsed: ParsedQuestion, lang: str, names: Mapping[str, str] | None = None) -> str:
    """``a geração eólica no Nordeste`` / ``wind generation in the Northeast``."""
    spec = parsed.spec
    assert spec is not None
    pt, en = _MEASURES.get(spec.fields[0], (spec.fields[0], spec.fields[0]))
    single = {k: v[0] for k, v in spec.where.items() if len(v) == 1}
    source = single.pop("source", None)
    if source in _SOURCE_ADJ:
        adj_pt, adj_en = _SOURCE_ADJ[source]
        pt, en = f"{pt} {adj_pt}", f"{adj_en} {en}"
    plant = single.pop("plant", None)
    if plant:
        name = _label({"plant": plant}, lang, names)
        pt, en = f"{pt} de {name}", f"{en} of {name}"
    where = _label(single, lang)
    if lang == "pt":
        return f"{pt} no {where}" if where else pt
    return f"{en} in the {where}" if where else en


def compose(parsed: ParsedQuestion, result: QueryResult, *, coverage: float | None = None,
            max_items: int = 10, names: Mapping[str, str] | None = None,
            counts: Sequence[Row] | None = None) -> Composed:
    """Words for an ``ok`` question and its result; ``names``: plant slug → display name;
    ``counts``: samples per window (the same query with ``count``), to find partial buckets."""
    lang = parsed.language
    rows, unit = postprocess(parsed, result.rows)
    conf, parts, explained = deductions(parsed, result, coverage)
    what, period = _what(parsed, lang, names), _period(parsed, lang)
    warnings = list(parsed.warnings) + list(result.warnings)
    warnings += [w for w in explained if w not in warnings]
    if not rows:
        text = (f"Não encontrei dados para {what} ({period})." if lang == "pt"
                else f"I found no data for {what} ({period}).")
        return Composed(text, conf, parts, warnings, rows)

    def val(r: Row) -> str:
        if unit == "share":
            return f"{fmt_number(100 * (r.value or 0.0), lang, 1)} %"
        return _value(r.value, unit, lang)

    intent = parsed.intent or ""
    head = what[0].upper() + what[1:]
    spec = parsed.spec
    assert spec is not None
    bucketed = per_bucket(parsed)
    ranked = bool(spec.group_by) or any(p.startswith(("growth:", "rank:"))
                                        for p in parsed.postprocess)
    if len(rows) == 1 and not bucketed and not ranked:
        r = rows[0]
        when = ""
        if spec.aggregate in ("max", "min", "first", "last") or intent in ("peak", "minimum",
                                                                              "latest"):
            # a day's extreme reduced from daily windows: the day is known, not the hour
            hour = (spec.every_ns or 0) < 86_400 * 10**9
            when = (f", em {fmt_time(r.time_ns, lang, hour=hour)}" if lang == "pt"
                    else f", on {fmt_time(r.time_ns, lang, hour=hour)}"
                    + (" Brasília time" if hour else ""))
        verb = {"peak": ("teve pico de", "peaked at"), "minimum": ("teve mínimo de",
                                                                  "had a minimum of"),
                "total": ("somou", "totalled"), "latest": ("estava em", "was at")}
        pt_v, en_v = verb.get(intent, ("foi", "was"))
        if spec.aggregate == "mean" and intent not in verb:
            pt_v, en_v = ("teve média de", "averaged")
        text = (f"{head} {pt_v} {val(r)}{when} ({period})." if lang == "pt"
                else f"{head} {en_v} {val(r)}{when} ({period}).")
        return Composed(text, conf, parts, warnings, rows)

    if bucketed:  # a trend: summarize each series (one per group)
        series: dict[tuple[tuple[str, str], ...], list[Row]] = {}
        partial = partial_keys(rows, spec, parsed.postprocess, counts)
        n_partial = 0
        for r in rows:
            if r.value is not None:
                if r.key() in partial:
                    n_partial += 1
                    continue
                series.setdefault(tuple(sorted(r.tags.items())), []).append(r)
        summaries = []
        hourly = (spec.every_ns or 0) < 86_400 * 10**9  # daily windows: name the day only
        hourly = hourly and not any(p.startswith("bucket:") for p in parsed.postprocess)
        for key, values in series.items():
            hi = max(values, key=lambda r: r.value or 0.0)
            lo = min(values, key=lambda r: r.value or 0.0)
            t_hi, t_lo = (fmt_time(hi.time_ns, lang, hour=hourly),
                          fmt_time(lo.time_ns, lang, hour=hourly))
            mean = sum(r.value or 0.0 for r in values) / len(values)
            name = _label(dict(key), lang, names) if len(series) > 1 else ""
            if lang == "pt":
                summaries.append(
                    f"{name + ': ' if name else ''}{len(values)} pontos, média "
                    f"{val(Row(0, '', '', mean, {}))}, máximo {val(hi)} em "
                    f"{t_hi}, mínimo {val(lo)} em {t_lo}")
            else:
                summaries.append(
                    f"{name + ': ' if name else ''}{len(values)} points, mean "
                    f"{val(Row(0, '', '', mean, {}))}, maximum {val(hi)} on "
                    f"{t_hi}, minimum {val(lo)} on {t_lo}")
        size: str = next((p.split(":")[1] for p in parsed.postprocess
                          if p.startswith("bucket:")),
                         {"1h": "hour", "1d": "day", "7d": "week"}.get(spec.every or "",
                                                                      spec.every or ""))
        size_pt = {"hour": "janelas horárias", "day": "janelas diárias",
                   "week": "janelas semanais (segunda a domingo)",
                   "month": "janelas de meses do calendário"}.get(size, f"janelas de {size}")
        size_en = {"hour": "hourly windows", "day": "daily windows",
                   "week": "weekly windows (Monday to Sunday)",
                   "month": "calendar-month windows"}.get(size, f"{size} windows")
        windows = (f"em {size_pt}" if lang == "pt" else f"in {size_en}")
        text = f"{head} ({period}), {windows}: " + "; ".join(summaries[:max_items]) + "."
        if not series:
            text = (f"{head} ({period}), {windows}: só há janelas parciais, nenhuma completa "
                    "para comparar." if lang == "pt" else
                    f"{head} ({period}), {windows}: only partial windows, no whole one to "
                    "compare.")
        if n_partial:
            note = (f"{n_partial} janela(s) parcial(is) (cortadas pelo período pedido ou pelo "
                    "início/fim dos dados) aparecem nos dados mas ficam fora do máximo, do mínimo "
                    "e da média" if lang == "pt" else
                    f"{n_partial} partial window(s) (cut by the period asked or by the start/end "
                    "of the data) are in the data but left out of the maximum, minimum and mean")
            text += f" {note[0].upper()}{note[1:]}."
            warnings.append(note)
        return Composed(text, conf, parts, warnings, rows)

    growth = next((p for p in parsed.postprocess if p.startswith("growth:")), None)
    if growth is not None:  # the value is a change between the first and last whole bucket
        size = "mês" if any(p.startswith("bucket:month") for p in parsed.postprocess) else (
            "hora" if spec.every == "1h" else "dia")
        size_en = {"mês": "month", "hora": "hour", "dia": "day"}[size]
        of_what = re.sub(r"^(a|o|as|os) ", lambda m: f"d{m.group(1)} ", what)
        head = (f"Variação {of_what} entre o primeiro e o último {size} completo"
                if lang == "pt" else
                f"Change in {what} between the first and the last whole {size_en}")
    ordered = sorted(rows, key=lambda r: -(r.value or 0.0))
    if (growth is not None and growth.split(":")[1] == "bottom") or spec.bottom:
        ordered.reverse()  # the smallest first, as asked
    items = [f"{i}. {_label(r.tags, lang, names) or r.field}: {val(r)}"
             + (f" ({fmt_time(r.time_ns, lang)})" if intent in ("peak", "minimum", "latest")
                else "")
             for i, r in enumerate(ordered[:max_items], 1)]
    more = len(ordered) - max_items
    tail = ((f" … e mais {more}." if lang == "pt" else f" … and {more} more.")
            if more > 0 else "")
    text = f"{head} ({period}): " + "; ".join(items) + tail
    return Composed(text, conf, parts, warnings, rows)


def refuse(parsed: ParsedQuestion) -> Composed:
    """Words for ``unanswerable`` and ``ambiguous`` questions: no query was run."""
    lang = parsed.language
    if parsed.status == "ambiguous":
        options = "; ".join(c.label for c in parsed.candidates)
        text = (f"A pergunta é ambígua. Você quis dizer: {options}?" if lang == "pt"
                else f"The question is ambiguous. Did you mean: {options}?")
        return Composed(text, 0.0, ["ambiguous: no query run"], list(parsed.warnings))
    reason = parsed.reason or ("não sei responder a isso com os dados disponíveis" if lang == "pt"
                               else "I cannot answer that from the data we hold")
    text = (f"Não posso responder: {reason}" if lang == "pt"
            else f"I can't answer that: {reason}")
    return Composed(text, 0.0, ["unanswerable: no query run"], list(parsed.warnings))


def coverage_of(spans: Sequence[tuple[int, int]], start_ns: int, stop_ns: int) -> float:
    """Fraction of ``[start, stop)`` covered by the union of ``spans``.

    A span is the first and last sample time of an ingested object; the last hourly
    sample covers the hour after it, so each span extends one hour past its end.
    """
    if stop_ns <= start_ns:
        return 1.0
    clipped = sorted((max(a, start_ns), min(b + 3_600_000_000_000, stop_ns))
                     for a, b in spans if b >= start_ns and a < stop_ns)
    covered, cursor = 0, start_ns
    for a, b in clipped:
        a = max(a, cursor)
        if b > a:
            covered += b - a
            cursor = b
    return covered / (stop_ns - start_ns)
