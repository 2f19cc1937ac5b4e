"""How an answer is shown: chart kind, title, axis titles with units, people's names for
series, columns and tag values, in the question's language. Pure.

The composer words the answer; this module decides the labels a chart or a table needs,
so the web page (and any other client: the MCP server returns the same block) draws
``time_series_data`` without knowing the catalog. Labels come from the same place as
the answer's words (``compose.label``), so "Hidrelétrica" in the sentence is
"Hidrelétrica" in the legend.

``display`` is ``None`` when no query ran (ambiguous or unanswerable questions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, timedelta
from typing import Any

from .. import catalog
from ..query.result import Row
from .compose import _label as label
from .parse import Candidate, ParsedQuestion
from .timeexpr import LOCAL as BRT

#: tag keys in the order people read them (the table's columns follow it)
TAG_ORDER = ("region", "source", "plant", "from_region", "to_region", "line", "voltage",
             "sector", "state", "plant_id")

_TAG_NAMES = {
    "region": ("Subsistema", "Subsystem"), "source": ("Fonte", "Source"),
    "plant": ("Usina", "Plant"), "from_region": ("Origem", "From"),
    "to_region": ("Destino", "To"), "line": ("Linha", "Line"), "voltage": ("Tensão", "Voltage"),
    "sector": ("Setor", "Sector"), "state": ("Estado", "State"), "plant_id": ("Código ONS", "ONS id"),
}

_FIELD_NAMES = {
    "power_mw": ("Geração", "Generation"), "demand_mw": ("Carga", "Load"),
    "consumption_mwh": ("Consumo", "Consumption"),
    "capacity_factor": ("Fator de capacidade", "Capacity factor"),
    "load_factor": ("Fator de carga", "Load factor"),
    "availability": ("Disponibilidade", "Availability"), "efficiency": ("Eficiência", "Efficiency"),
    "flow_mw": ("Intercâmbio", "Interchange flow"), "losses_mwh": ("Perdas", "Losses"),
    "voltage_kv": ("Tensão", "Voltage"),
}

#: what the energy (MWh) of an average-power field is called
_ENERGY_NAMES = {
    "power_mw": ("Energia gerada", "Energy generated"), "demand_mw": ("Energia da carga", "Load energy"),
    "flow_mw": ("Energia intercambiada", "Energy exchanged"),
}

_AGGREGATE_NAMES = {
    "max": ("máximo", "maximum"), "min": ("mínimo", "minimum"), "mean": ("média", "mean"),
    "sum": ("soma", "sum"), "energy": ("energia", "energy"), "count": ("contagem", "count"),
    "first": ("primeiro valor", "first value"), "last": ("último valor", "latest value"),
    "median": ("mediana", "median"), "spread": ("amplitude", "spread"),
    "stddev": ("desvio padrão", "standard deviation"), "percentile": ("percentil", "percentile"),
}

_WINDOWS = {"1h": ("por hora", "hourly"), "1d": ("por dia", "daily"),
            "7d": ("por semana", "weekly")}

LOCALES = {"pt": "pt-BR", "en": "en-US"}


def _t(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "pt" else pair[1]


def series_key(tags: Mapping[str, str]) -> str:
    """One series' identity: ``region=southeast|source=hydro`` (tags sorted by key).

    The page computes the same key from a point's tags to find the series' label.
    """
    return "|".join(f"{k}={tags[k]}" for k in sorted(tags))


def rows_unit(parsed: ParsedQuestion) -> str:
    """The unit of the rows in ``time_series_data`` (before any share is taken)."""
    spec = parsed.spec
    assert spec is not None
    if spec.aggregate == "energy":
        return "MWh"
    if spec.aggregate == "count":
        return ""
    return spec.measurement_spec.field(spec.fields[0]).unit


def _period(parsed: ParsedQuestion, lang: str) -> str:
    tr = parsed.time_range
    if tr is None:
        return ""
    start = tr.start.astimezone(BRT)
    end = (tr.stop.astimezone(UTC) - timedelta(seconds=1)).astimezone(BRT)
    fmt = "%d/%m/%Y" if lang == "pt" else "%b %d, %Y"
    a, b = start.strftime(fmt), end.strftime(fmt)
    if a == b:
        return a
    return f"{a} a {b}" if lang == "pt" else f"{a} to {b}"


def chart_kind(parsed: ParsedQuestion, rows: Sequence[Row]) -> str:
    """``line`` (a series over time), ``bar`` (one value per group: rankings, comparisons),
    ``share`` (bars of each group's share of the total) or ``none`` (one number)."""
    spec = parsed.spec
    assert spec is not None
    keys = {series_key(r.tags) for r in rows if r.value is not None}
    times = {r.time_ns for r in rows if r.value is not None}
    if "share" in parsed.postprocess and len(keys) > 1:
        return "share"
    if spec.every and len(times) > 1:
        return "line"
    if len(keys) > 1:
        return "bar"
    return "none"


def display(parsed: ParsedQuestion, rows: Sequence[Row],
            names: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The display block of an answer whose query ran; ``rows`` are ``time_series_data``."""
    spec = parsed.spec
    if parsed.status != "ok" or spec is None:
        return None
    lang = parsed.language
    field = spec.fields[0]
    measure = _t(_FIELD_NAMES.get(field, (field, field)), lang)
    unit = rows_unit(parsed)
    kind = chart_kind(parsed, rows)
    scale = 100.0 if unit == "ratio" else 1.0
    shown_unit = "%" if unit == "ratio" else unit
    value_label = f"{measure} ({shown_unit})" if shown_unit else measure
    if spec.aggregate == "energy" and field in _ENERGY_NAMES:
        value_label = f"{_t(_ENERGY_NAMES[field], lang)} (MWh)"
    share_label = ("Participação no total (%)" if lang == "pt" else "Share of the total (%)")

    # the title: the measure, the fixed filters, how it was reduced, the period
    single = {k: v[0] for k, v in spec.where.items() if len(v) == 1}
    where = label(single, lang, names)
    how = []
    if spec.every:
        how.append(_t(_WINDOWS.get(spec.every, (f"janelas de {spec.every}",
                                                f"{spec.every} windows")), lang))
    if spec.aggregate and spec.aggregate != "energy" and kind != "share":
        how.append(_t(_AGGREGATE_NAMES.get(spec.aggregate, (spec.aggregate, spec.aggregate)),
                      lang))
    if spec.top:
        how.append(f"{spec.top} maiores" if lang == "pt" else f"top {spec.top}")
    if spec.bottom:
        how.append(f"{spec.bottom} menores" if lang == "pt" else f"bottom {spec.bottom}")
    by = [_t(_TAG_NAMES[g], lang).lower() for g in spec.group_by if g in _TAG_NAMES]
    if by:
        how.append(("por " if lang == "pt" else "by ") + ", ".join(by))
    head = (f"{share_label.split(' (')[0]}: {measure.lower()}" if kind == "share" else measure)
    title = head + (f" — {where}" if where else "")
    if how:
        title += f" ({', '.join(how)})"
    period = _period(parsed, lang)
    if period:
        title += f", {period}"

    # filters of one value that the rows do not carry as tags (a peak in one region):
    # the table and the CSV still say which region it is
    in_rows = {k for r in rows for k in r.tags}
    fixed = {k: v for k, v in single.items() if k not in in_rows}
    tag_keys = [k for k in TAG_ORDER if k in in_rows or k in fixed]
    tag_keys += sorted((in_rows | set(fixed)) - set(tag_keys))
    tag_values: dict[str, dict[str, str]] = {}
    for r in rows:
        for k, v in [*r.tags.items(), *fixed.items()]:
            tag_values.setdefault(k, {})[v] = label({k: v}, lang, names) or v
    series: dict[str, str] = {}
    for r in rows:
        series.setdefault(series_key(r.tags), label(r.tags, lang, names) or measure)

    zone = "horário de Brasília" if lang == "pt" else "Brasília time"
    pointwise = spec.aggregate in ("max", "min", "first", "last") or bool(
        {"peak_per_group", "minimum_per_group", "latest_per_group"} & set(parsed.postprocess))
    if spec.every:
        time_col = f"Início da janela ({zone})" if lang == "pt" else f"Window start ({zone})"
    elif pointwise or not spec.aggregate:
        time_col = f"Data e hora ({zone})" if lang == "pt" else f"Date and time ({zone})"
    else:
        time_col = f"Início do período ({zone})" if lang == "pt" else f"Period start ({zone})"
    columns = [{"key": "time", "label": time_col}]
    columns += [{"key": k, "label": _t(_TAG_NAMES.get(k, (k, k)), lang)} for k in tag_keys]
    columns.append({"key": "value", "label": value_label})

    return {
        "chart": kind,
        "title": title,
        "unit": shown_unit,
        "scale": scale,
        "value_label": share_label if kind == "share" else value_label,
        "table_value_label": value_label,
        "time_label": (f"Data ({zone}, {catalog.TIMEZONE})" if lang == "pt"
                       else f"Date ({zone}, {catalog.TIMEZONE})"),
        "timezone": catalog.TIMEZONE,
        "locale": LOCALES.get(lang, "en-US"),
        "hourly": bool(spec.every_ns is None or spec.every_ns < 86_400 * 10**9),
        "columns": columns,
        "series": [{"key": k, "label": v} for k, v in series.items()],
        "tag_values": tag_values,
        "fixed_tags": fixed,
    }


def candidate_question(parsed: ParsedQuestion, candidate: Candidate) -> str:
    """The question re-asked with one candidate chosen: the ambiguous words replaced by
    the candidate's name (a plant), or the measure's name added (a measure)."""
    q = parsed.question
    if candidate.kind == "plant":
        for e in parsed.entities:
            if e.kind == "plant" and candidate.value in (e.value, *e.value.split(",")):
                a, b = e.span
                return q[:a] + candidate.label + q[b:]
        text = _quoted(parsed.reason or "")
        if text and text in q:
            return q.replace(text, candidate.label, 1)
        return f"{q} ({candidate.label})"
    return f"{q} ({candidate.label})"


def _quoted(text: str) -> str | None:
    a, b = text.find("“"), text.find("”")
    return text[a + 1:b] if 0 <= a < b else None
