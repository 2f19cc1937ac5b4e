"""The data contract: buckets, measurements, tags, fields, units, ranges and aliases.

Single source of truth read by ingest, validation, query rendering and the question
parser. Pure data and pure functions: no I/O.

On InfluxDB 2.x/3.x each measurement lives in the bucket of the same name; on 1.x the
bucket is a database with a ``RETENTION`` policy of 7 years (``2555d``; ``7y`` is not
an InfluxDB duration).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .exceptions import CatalogError

FieldType = Literal["float", "integer", "boolean", "string"]

ORG = "ons-energy"
RETENTION = "2555d"
TIMEZONE = "America/Sao_Paulo"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    unit: str
    type: FieldType = "float"
    min: float | None = None
    max: float | None = None
    description: str = ""
    aliases: tuple[str, ...] = ()

    def in_range(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass(frozen=True)
class MeasurementSpec:
    name: str
    bucket: str
    required_tags: tuple[str, ...]
    optional_tags: tuple[str, ...]
    fields: Mapping[str, FieldSpec]
    description: str = ""
    retention: str = RETENTION
    #: the tags that name the quantity a series measures; the other tags describe it
    #: (a plant's state, id and display name). Two series with the same identity and
    #: different tags are *parallel*: the same quantity twice, and any sum doubles.
    identity_tags: tuple[str, ...] = ()
    #: the value of a tag a file does not give, so every input format writes the same
    #: series key for the same quantity (the ONS load files are the total load)
    tag_defaults: Mapping[str, str] = field(default_factory=dict)

    @property
    def tags(self) -> tuple[str, ...]:
        return self.required_tags + self.optional_tags

    def field(self, name: str) -> FieldSpec:
        try:
            return self.fields[name]
        except KeyError:
            raise CatalogError(
                f"measurement {self.name!r} has no field {name!r}; "
                f"known fields: {', '.join(self.fields)}"
            ) from None


def _fields(*specs: FieldSpec) -> dict[str, FieldSpec]:
    return {s.name: s for s in specs}


# Ranges are physical sanity bounds, wide enough for region- and system-level totals
# (SIN load peaks near 106 GW) and for the small negative net generation that ONS
# publishes for plants drawing auxiliary power.
MEASUREMENTS: dict[str, MeasurementSpec] = {
    "generation_data": MeasurementSpec(
        name="generation_data",
        bucket="generation_data",
        required_tags=("region", "source"),
        optional_tags=("plant", "state", "plant_id", "plant_name"),
        identity_tags=("region", "source", "plant"),
        description="Generation per plant, or per region and source (MWmed samples).",
        fields=_fields(
            FieldSpec("power_mw", "MW", min=-1_000, max=250_000,
                      description="average power over the interval (MWmed)",
                      aliases=("geracao", "geração", "generation", "power", "potencia")),
            FieldSpec("capacity_factor", "ratio", min=0, max=1,
                      aliases=("fator de capacidade", "capacity factor")),
            FieldSpec("availability", "ratio", min=0, max=1,
                      aliases=("disponibilidade", "availability")),
            FieldSpec("efficiency", "ratio", min=0, max=1,
                      aliases=("eficiencia", "eficiência", "efficiency")),
        ),
    ),
    "consumption_data": MeasurementSpec(
        name="consumption_data",
        bucket="consumption_data",
        required_tags=("region",),
        optional_tags=("sector",),
        identity_tags=("region", "sector"),
        tag_defaults={"sector": "total"},
        description="Load (demand) per subsystem and sector.",
        fields=_fields(
            FieldSpec("consumption_mwh", "MWh", min=0, max=1e9,
                      aliases=("consumo", "consumption", "energia consumida")),
            FieldSpec("demand_mw", "MW", min=0, max=250_000,
                      description="load: average power over the interval (MWmed)",
                      aliases=("carga", "demanda", "demand", "load")),
            FieldSpec("load_factor", "ratio", min=0, max=1,
                      aliases=("fator de carga", "load factor")),
        ),
    ),
    "transmission_data": MeasurementSpec(
        name="transmission_data",
        bucket="transmission_data",
        required_tags=("line",),
        optional_tags=("voltage", "from_region", "to_region"),
        identity_tags=("line",),
        description="Flows on lines and interchange between subsystems.",
        fields=_fields(
            FieldSpec("flow_mw", "MW", min=-100_000, max=100_000,
                      description="signed flow from from_region to to_region (MWmed)",
                      aliases=("intercambio", "intercâmbio", "fluxo", "flow", "interchange")),
            FieldSpec("losses_mwh", "MWh", min=0, max=1e7,
                      aliases=("perdas", "losses")),
            FieldSpec("voltage_kv", "kV", min=0, max=1_200, aliases=("tensao", "tensão", "voltage")),
        ),
    ),
}

BUCKETS: tuple[str, ...] = tuple(m.bucket for m in MEASUREMENTS.values())

# field name -> measurement, used by the processed long format (measurement_type column)
FIELD_TO_MEASUREMENT: dict[str, str] = {
    f: m.name for m in MEASUREMENTS.values() for f in m.fields
}


def measurement(name: str) -> MeasurementSpec:
    try:
        return MEASUREMENTS[name]
    except KeyError:
        raise CatalogError(
            f"unknown measurement {name!r}; known: {', '.join(MEASUREMENTS)}"
        ) from None


def measurement_for_field(field_name: str) -> MeasurementSpec:
    try:
        return MEASUREMENTS[FIELD_TO_MEASUREMENT[field_name]]
    except KeyError:
        raise CatalogError(
            f"unknown field {field_name!r}; known: {', '.join(FIELD_TO_MEASUREMENT)}"
        ) from None


# --- units: what the processed format may say, and the factor to the catalog unit ---
UNIT_FACTORS: dict[tuple[str, str], float] = {
    ("MW", "MW"): 1.0, ("MWMED", "MW"): 1.0, ("MWAVG", "MW"): 1.0,
    ("GW", "MW"): 1_000.0, ("KW", "MW"): 0.001,
    ("MWH", "MWh"): 1.0, ("GWH", "MWh"): 1_000.0, ("KWH", "MWh"): 0.001,
    ("KV", "kV"): 1.0, ("V", "kV"): 0.001,
    ("RATIO", "ratio"): 1.0, ("PU", "ratio"): 1.0, ("", "ratio"): 1.0,
    ("%", "ratio"): 0.01, ("PERCENT", "ratio"): 0.01,
}


def unit_factor(given: str | None, expected: str) -> float | None:
    """Factor converting a value in ``given`` unit to the catalog unit, None if incompatible."""
    key = ((given or "").strip().upper().replace(" ", ""), expected)
    return UNIT_FACTORS.get(key)


# --- entities -------------------------------------------------------------------------

@dataclass(frozen=True)
class Entity:
    slug: str
    name_pt: str
    name_en: str
    aliases: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Region(Entity):
    ons_id: str = ""


REGIONS: dict[str, Region] = {
    r.slug: r
    for r in (
        Region("north", "Norte", "North", ("n", "norte", "north", "região norte"), ons_id="N"),
        Region("northeast", "Nordeste", "Northeast",
               ("ne", "nordeste", "northeast", "north east", "região nordeste"), ons_id="NE"),
        Region("southeast", "Sudeste/Centro-Oeste", "Southeast/Center-West",
               ("se", "se/co", "seco", "se co", "sudeste", "sudeste/centro-oeste",
                "sudeste centro-oeste", "sudeste e centro-oeste", "centro-oeste", "centro oeste",
                "southeast", "south east", "southeast/center-west", "southeast/midwest",
                "midwest", "center-west", "região sudeste"), ons_id="SE"),
        Region("south", "Sul", "South", ("s", "sul", "south", "região sul"), ons_id="S"),
        Region("sin", "Sistema Interligado Nacional", "National Interconnected System",
               ("sin", "brasil", "brazil", "país", "pais", "nacional", "national",
                "sistema interligado nacional", "whole system", "todo o sistema",
                "national interconnected system"), ons_id="SIN"),
    )
}

SOURCES: dict[str, Entity] = {
    s.slug: s
    for s in (
        Entity("hydro", "Hidrelétrica", "Hydro",
               ("hidreletrica", "hidrelétrica", "hidroeletrica", "hidroelétrica", "hidrica",
                "hídrica", "hidraulica", "hidráulica", "uhe", "pch", "cgh", "hydro",
                "hydroelectric", "hydropower", "water")),
        Entity("thermal", "Térmica", "Thermal",
               ("termica", "térmica", "termeletrica", "termelétrica", "termoeletrica",
                "termoelétrica", "ute", "thermal", "thermoelectric", "gas", "gás", "coal",
                "carvão", "oleo", "óleo", "biomassa", "biomass")),
        Entity("wind", "Eólica", "Wind",
               ("eolica", "eólica", "eolieletrica", "eolielétrica", "eoloeletrica",
                "eol", "wind", "wind power")),
        Entity("solar", "Solar", "Solar",
               ("solar", "fotovoltaica", "fotovoltaico", "ufv", "photovoltaic", "pv",
                "solar pv")),
        Entity("nuclear", "Nuclear", "Nuclear", ("nuclear", "termonuclear", "utn", "angra")),
        Entity("other", "Outras", "Other", ("outra", "outras", "outros", "other", "others")),
    )
}

SECTORS: dict[str, Entity] = {
    s.slug: s
    for s in (
        Entity("total", "Total", "Total", ("total", "todos", "all")),
        Entity("residential", "Residencial", "Residential", ("residencial", "residential")),
        Entity("commercial", "Comercial", "Commercial", ("comercial", "commercial")),
        Entity("industrial", "Industrial", "Industrial", ("industrial", "industria", "indústria")),
        Entity("rural", "Rural", "Rural", ("rural",)),
        Entity("public", "Poder público", "Public", ("publico", "público", "public")),
        Entity("other", "Outros", "Other", ("outros", "other")),
    )
}

# ONS open-data datasets, columns exactly as published
ONS_GENERATION_COLUMNS = (
    "din_instante", "id_subsistema", "nom_subsistema", "id_estado", "nom_estado",
    "cod_modalidadeoperacao", "nom_tipousina", "nom_tipocombustivel", "nom_usina",
    "id_ons", "ceg", "val_geracao",
)
ONS_LOAD_COLUMNS = ("id_subsistema", "nom_subsistema", "din_instante", "val_cargaenergiahomwmed")
ONS_INTERCHANGE_COLUMNS = (
    "din_instante", "id_subsistema_origem", "nom_subsistema_origem", "id_subsistema_destino",
    "nom_subsistema_destino", "val_intercambiomwmed",
)

# ONS open-data spellings (after trimming and upper-casing) -> canonical slugs
ONS_SUBSYSTEM_IDS: dict[str, str] = {r.ons_id: r.slug for r in REGIONS.values()}
ONS_SUBSYSTEM_IDS.update({"SE/CO": "southeast", "SECO": "southeast"})
ONS_PLANT_TYPES: dict[str, str] = {
    "HIDROELÉTRICA": "hydro", "HIDROELETRICA": "hydro", "HIDRELÉTRICA": "hydro",
    "TÉRMICA": "thermal", "TERMICA": "thermal",
    "EOLIELÉTRICA": "wind", "EOLIELETRICA": "wind", "EÓLICA": "wind",
    "FOTOVOLTAICA": "solar", "SOLAR": "solar",
    "NUCLEAR": "nuclear",
}

# tag -> allowed canonical values; tags not listed here accept any slug-safe value
TAG_VOCABULARY: dict[str, frozenset[str]] = {
    "region": frozenset(REGIONS),
    "from_region": frozenset(REGIONS),
    "to_region": frozenset(REGIONS),
    "source": frozenset(SOURCES),
    "sector": frozenset(SECTORS),
}


def fold(text: str) -> str:
    """Lowercase, accents removed, whitespace collapsed: the form aliases are compared in."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.lower().split())


_SLUG_BAD = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Canonical tag value for a free name: ``"UHE Itaipu 50 Hz "`` -> ``"uhe_itaipu_50_hz"``."""
    return _SLUG_BAD.sub("_", fold(text)).strip("_")


def _alias_index(entities: Iterable[Entity]) -> dict[str, str]:
    index: dict[str, str] = {}
    for e in entities:
        for name in (e.slug, e.name_pt, e.name_en, *e.aliases):
            index[fold(name)] = e.slug
    return index


_REGION_INDEX = _alias_index(REGIONS.values())
_SOURCE_INDEX = _alias_index(SOURCES.values())
_SECTOR_INDEX = _alias_index(SECTORS.values())


def resolve_region(text: str) -> str | None:
    """Canonical region slug for a name, ONS id or alias in Portuguese or English."""
    return _REGION_INDEX.get(fold(text))


def resolve_source(text: str) -> str | None:
    return _SOURCE_INDEX.get(fold(text)) or ONS_PLANT_TYPES.get(text.strip().upper())


def resolve_sector(text: str) -> str | None:
    return _SECTOR_INDEX.get(fold(text))


RESOLVERS = {"region": resolve_region, "from_region": resolve_region,
             "to_region": resolve_region, "source": resolve_source, "sector": resolve_sector}


# --- tag values: one normal form per tag, whatever the input format or the migration ----

def slug_or_none(text: str) -> str | None:
    return slug(text) or None


def published_id(text: str) -> str | None:
    """An identifier as its publisher wrote it (ONS ``id_ons``): trimmed, case kept."""
    return text.strip() or None


def display_name(text: str) -> str | None:
    """A name for people (``nom_usina``): accents and case kept, blanks collapsed."""
    return " ".join(text.split()) or None


#: tag -> the function giving its stored value from any spelling a file or a Timestream
#: dimension may carry; None: not a value of that tag. Tags not listed are slugs.
TAG_NORMALIZERS: dict[str, Callable[[str], str | None]] = {
    **RESOLVERS,
    "plant": slug_or_none,
    "state": slug_or_none,
    "plant_id": published_id,
    "plant_name": display_name,
}


def normalize_tag(tag: str, text: str) -> str | None:
    """The stored value of ``tag`` for ``text`` (ingest and migration both call this)."""
    return TAG_NORMALIZERS.get(tag, slug_or_none)(text)


def plant_tags(name: str, plant_id: str | None = None,
               state: str | None = None) -> dict[str, str]:
    """The plant tags of one plant, the same whether ingested or migrated:
    ``plant`` (slug of the name, for queries), ``plant_name`` (the name as published, for
    people: ``SHOW TAG VALUES``, Grafana legends and variables), ``plant_id`` (``id_ons``
    as published) and ``state`` (lower-case UF); absent ones left out."""
    out = {"plant": slug_or_none(name), "plant_name": display_name(name),
           "plant_id": published_id(plant_id) if plant_id else None,
           "state": slug_or_none(state) if state else None}
    return {k: v for k, v in out.items() if v}


def series_identity(measurement_name: str, tags: Mapping[str, str | None]) -> tuple[str | None, ...]:
    """The identity of a series (its ``identity_tags`` values, defaults applied)."""
    spec = measurement(measurement_name)
    return tuple(tags.get(t) or spec.tag_defaults.get(t) for t in spec.identity_tags)
