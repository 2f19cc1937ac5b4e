"""Entities in a question: measures, regions, sources, sectors and plants. Pure: no I/O.

Only values that resolve to a *known* slug — the catalog's regions, sources and sectors,
or a plant of the :class:`Vocabulary` — ever leave this module; the question's own text
never becomes a tag value.

Matching works on folded text (``catalog.fold``: lower case, accents removed), so
"Tucuruí", "tucurui" and "TUCURUI" are the same exact match. Plants are matched in
three passes: exact names (full name, slug, or the name without its generic prefix
such as "Complexo Eólico"), aliases, then fuzzy matching of the words left over
(``rapidfuzz`` ``fuzz.ratio`` ≥ :data:`FUZZY_CUTOFF`). A name shared by several plants
("Angra" → Angra 1, Angra 2; "Paulo Afonso"; "MMGD") or a full name that is the start of
another plant's name ("Santo Antônio" → Santo Antônio, Santo Antônio do Jari) is
*ambiguous*, unless the region or source named in the question leaves one plant.

Regions: the ONS subsystem codes (N, NE, SE, S, SE/CO) count only in upper case
("se" and "s" are ordinary words in Portuguese); names and aliases in any case.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict
from rapidfuzz import fuzz, process

from .. import catalog
from ..plants import PLANTS

__all__ = [
    "FUZZY_CUTOFF",
    "EntityMatch",
    "MatchKind",
    "PlantEntry",
    "Vocabulary",
    "normalize",
]

MatchKind = Literal["exact", "alias", "fuzzy"]
EntityKind = Literal["measure", "region", "source", "sector", "plant", "state"]
FUZZY_CUTOFF = 80.0
#: two fuzzy candidates closer than this (points) make the match ambiguous
FUZZY_TIE = 3.0


class EntityMatch(BaseModel):
    """One thing recognized in the question."""

    model_config = ConfigDict(frozen=True)

    kind: EntityKind
    text: str
    """the question's words that matched (accents and case as typed)"""
    value: str
    """canonical value: a field name for measures, a slug otherwise"""
    display: str
    match: MatchKind
    score: float
    """100 for exact and alias matches, the rapidfuzz ratio for fuzzy ones"""
    span: tuple[int, int]
    role: str | None = None
    """for regions of an interchange: ``from_region`` or ``to_region``"""


@dataclass(frozen=True)
class PlantEntry:
    """A plant the parser can name: its tag slug, display name and, if known, where it is."""

    slug: str
    name: str
    region: str | None = None
    source: str | None = None
    aliases: tuple[str, ...] = ()


# real alternative names of sample plants
_EXTRA_PLANT_ALIASES: dict[str, tuple[str, ...]] = {
    "itaipu": ("itaipu binacional",),
    "governador_bento_munhoz_da_rocha_netto": ("foz do areia", "bento munhoz", "gbm"),
    "luiz_gonzaga": ("itaparica",),
    "apolonio_sales": ("moxoto",),
    "luiz_carlos_barreto_de_carvalho": ("luiz carlos barreto",),
    "tucurui": ("tucurui dam", "uhe tucurui"),
}
_GENERIC_PREFIXES = (
    "usina hidreletrica de ", "usina hidreletrica ", "usina ", "uhe ", "ute ", "utn ", "eol ", "ufv ",
    "complexo eolico ", "conjunto eolico ", "complexo solar ", "conjunto solar ",
    "complexo fotovoltaico ", "conjunto fotovoltaico ", "porto do ",
)
_TRAILING_NUMERAL = re.compile(r"(?:[\s,]+(?:e\s+)?(?:i|ii|iii|iv|v|vi|\d+))+$")
_REGION_SUFFIX = re.compile(r"\s+(?:norte|nordeste|sudeste/centro-oeste|sudeste|sul)$")
# variant names too close to ordinary words to be read alone
_UNSAFE_VARIANTS = frozenset({"futura", "santa", "rio", "porto", "nova", "campos", "sol"})


def normalize(text: str) -> tuple[str, str]:
    """(text without accents, case kept; the same, lower case) — same length, same offsets."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = re.sub(r"\s+", " ", stripped).strip()
    stripped = stripped.replace("→", ">").replace("º", "o").replace("ª", "a")
    lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in stripped)
    return stripped, lower


def plant_display_name(slug_: str) -> str:
    """A name for a plant known only by its slug: ``belo_monte`` → ``Belo Monte``."""
    return slug_.replace("_", " ").title()


def _word_regex(phrases: Iterable[str]) -> re.Pattern[str]:
    alt = "|".join(sorted({re.escape(p) for p in phrases if p}, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alt})(?![a-z0-9])")


# ------------------------------------------------------------------ measures

#: folded phrase -> field (longest phrase wins)
MEASURE_WORDS: dict[str, str] = {}
for _field, _words in {
    "capacity_factor": ("fator de capacidade", "fatores de capacidade", "capacity factor",
                        "capacity factors", "fc"),
    "load_factor": ("fator de carga", "load factor"),
    "availability": ("disponibilidade", "availability", "available"),
    "efficiency": ("eficiencia", "efficiency"),
    "losses_mwh": ("perdas", "perda", "losses", "loss", "perdas de transmissao",
                   "transmission losses", "perdas eletricas"),
    "flow_mw": ("intercambio", "intercambios", "interchange", "fluxo", "flow", "flows",
                "exportacao", "exportacoes", "exportou", "exportado", "exportada", "export",
                "exports", "exported", "importacao", "importacoes", "importou", "importado",
                "import", "imports", "imported", "transferencia", "transferiu", "transfer",
                "transferred", "power flow", "flowed", "flowing", "power flowed", "fluiu",
                "fluiram", "fluxo de energia"),
    "voltage_kv": ("tensao", "voltage"),
    "demand_mw": ("carga", "cargas", "demanda", "demand", "load", "consumo", "consumption",
                  "consumiu", "consumed", "consumir", "consume", "consumida", "consumido",
                  "energia consumida", "carga de energia", "demanda de energia"),
    "power_mw": ("geracao", "geracoes", "gerou", "gerada", "gerado", "geraram", "gerar", "gera",
                 "generation", "generated", "generate", "generating", "produced", "producao",
                 "produziu", "produziram", "produzida", "produzido", "produce", "production",
                 "output", "power", "potencia", "energia gerada", "energia produzida",
                 "mix", "matriz", "matriz eletrica", "generation mix"),
}.items():
    for _w in _words:
        MEASURE_WORDS[_w] = _field
_MEASURE_RX = _word_regex(MEASURE_WORDS)

# ------------------------------------------------------------------ regions, sources, sectors

_SHORT_REGION_CODES = {"n", "s", "se", "ne", "seco", "se co", "se/co"}
REGION_WORDS: dict[str, str] = {}
for _r in catalog.REGIONS.values():
    for _name in (_r.slug, _r.name_pt, _r.name_en, *_r.aliases):
        _f = catalog.fold(_name)
        if _f not in _SHORT_REGION_CODES:
            REGION_WORDS[_f] = _r.slug
REGION_WORDS.update({
    "sudeste/co": "southeast", "sudeste-centro-oeste": "southeast", "se/centro-oeste": "southeast",
    "subsistema norte": "north", "subsistema nordeste": "northeast", "subsistema sul": "south",
    "subsistema sudeste": "southeast", "todo o brasil": "sin",
    "sistema": "sin", "system": "sin", "sistema eletrico": "sin", "national grid": "sin",
    "country": "sin", "whole country": "sin",
})
_REGION_RX = _word_regex(REGION_WORDS)
# upper-case ONS subsystem codes, resolved by the catalog (``SIN`` is a word, matched above)
_REGION_CODE_RX = re.compile(r"(?<![A-Za-z0-9/])(SE/CO|SECO|SE|NE|N|S)(?![A-Za-z0-9/])")

_SOURCE_EXCLUDED = {"other", "others", "outra", "outras", "outros", "angra", "water", "oleo", "pv"}
SOURCE_WORDS: dict[str, str] = {}
for _s in catalog.SOURCES.values():
    if _s.slug == "other":
        continue
    for _name in (_s.slug, _s.name_pt, _s.name_en, *_s.aliases):
        _f = catalog.fold(_name)
        if _f not in _SOURCE_EXCLUDED:
            SOURCE_WORDS[_f] = _s.slug
            if not _f.endswith(("s", "r", "l")) and " " not in _f and len(_f) > 4:
                SOURCE_WORDS[_f + "s"] = _s.slug
SOURCE_WORDS.update({
    "hidreletricas": "hydro", "usinas hidreletricas": "hydro", "hidro": "hydro",
    "hydroelectricity": "hydro", "hydro plants": "hydro", "hydro power": "hydro",
    "termeletricas": "thermal", "termicas": "thermal", "thermal plants": "thermal",
    "eolicas": "wind", "energia eolica": "wind", "wind farms": "wind", "wind energy": "wind",
    "wind farm": "wind", "parques eolicos": "wind", "eolico": "wind", "eolicos": "wind",
    "solares": "solar", "energia solar": "solar", "solar power": "solar", "solar energy": "solar",
    "fotovoltaicas": "solar",
    "nucleares": "nuclear", "nuclear power": "nuclear", "energia nuclear": "nuclear",
})
_SOURCE_RX = _word_regex(SOURCE_WORDS)

SECTOR_WORDS: dict[str, str] = {
    "residencial": "residential", "residential": "residential", "residencias": "residential",
    "comercial": "commercial", "commercial": "commercial", "comercio": "commercial",
    "industrial": "industrial", "industria": "industrial", "industry": "industrial",
    "rural": "rural", "residenciais": "residential", "comerciais": "commercial",
    "industriais": "industrial", "rurais": "rural", "industrias": "industrial",
}
_SECTOR_RX = _word_regex(SECTOR_WORDS)

# Brazilian states (the optional ``state`` tag of generation: lower-case UF)
_STATES = {
    "ac": "Acre", "al": "Alagoas", "ap": "Amapá", "am": "Amazonas", "ba": "Bahia", "ce": "Ceará",
    "df": "Distrito Federal", "es": "Espírito Santo", "go": "Goiás", "ma": "Maranhão",
    "mt": "Mato Grosso", "ms": "Mato Grosso do Sul", "mg": "Minas Gerais", "pa": "Pará",
    "pb": "Paraíba", "pr": "Paraná", "pe": "Pernambuco", "pi": "Piauí", "rj": "Rio de Janeiro",
    "rn": "Rio Grande do Norte", "rs": "Rio Grande do Sul", "ro": "Rondônia", "rr": "Roraima",
    "sc": "Santa Catarina", "sp": "São Paulo", "se": "Sergipe", "to": "Tocantins",
}
STATE_WORDS: dict[str, str] = {catalog.fold(n): uf for uf, n in _STATES.items() if uf != "pa"}
STATE_WORDS.update({"estado do para": "pa", "no para": "pa", "state of para": "pa"})
_STATE_RX = _word_regex(STATE_WORDS)


def find_states(folded: str, cased: str) -> list[EntityMatch]:
    return [EntityMatch(kind="state", text=cased[m.start():m.end()], value=STATE_WORDS[m.group(0)],
                        display=_STATES[STATE_WORDS[m.group(0)]], match="exact", score=100.0,
                        span=(m.start(), m.end()))
            for m in _STATE_RX.finditer(folded)]


# ------------------------------------------------------------------ vocabulary

@dataclass(frozen=True)
class Vocabulary:
    """What the parser may name: plants (slug → entry) and other known tag values.

    ``Vocabulary.default()`` is built from the catalog and the plant registry (``plants``);
    :meth:`from_tag_values` builds one from ``SHOW TAG VALUES`` results (the API does).
    Only slugs held here ever reach a ``plant`` filter.
    """

    plants: Mapping[str, PlantEntry]
    tag_values: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def default(cls) -> Vocabulary:
        global _DEFAULT
        if _DEFAULT is None:
            plants = {p.slug: PlantEntry(p.slug, p.name, p.region, p.source,
                                         _EXTRA_PLANT_ALIASES.get(p.slug, ()))
                      for p in PLANTS}
            tags = {t: frozenset(v) for t, v in catalog.TAG_VOCABULARY.items()}
            tags["plant"] = frozenset(plants)
            _DEFAULT = cls(plants=plants, tag_values=tags)
        return _DEFAULT

    @classmethod
    def from_tag_values(cls, values: Mapping[str, Iterable[str]], *,
                        plants: Iterable[PlantEntry] = ()) -> Vocabulary:
        """A vocabulary from ingested tag values (``{"plant": [...], "line": [...]}``).

        ``plants`` may add display names, regions and sources; a plant slug without an
        entry gets a name made from its slug ("belo_monte" → "Belo Monte"). Plants known
        to the default vocabulary keep their names and aliases.
        """
        known = {p.slug: p for p in plants}
        base = cls.default().plants
        entries: dict[str, PlantEntry] = {}
        for slug_ in values.get("plant", ()):
            entries[slug_] = known.get(slug_) or base.get(slug_) or PlantEntry(
                slug_, plant_display_name(slug_))
        for slug_, entry in known.items():
            entries.setdefault(slug_, entry)
        tags = {t: frozenset(v) for t, v in values.items()}
        tags["plant"] = frozenset(entries)
        return cls(plants=entries, tag_values=tags)

    # -------------------------------------------------------------- plant index

    @cached_property
    def _plant_index(self) -> dict[str, tuple[frozenset[str], MatchKind]]:
        """folded variant -> (plant slugs it names, exact | alias)."""
        index: dict[str, tuple[set[str], MatchKind]] = {}
        blocked = set(REGION_WORDS) | set(SOURCE_WORDS) | set(MEASURE_WORDS) | _UNSAFE_VARIANTS

        def add(variant: str, slug_: str, kind: MatchKind) -> None:
            variant = variant.strip(" ,")
            if len(variant) < 3 or variant in blocked:
                return
            slugs, k = index.get(variant, (set(), kind))
            slugs.add(slug_)
            index[variant] = (slugs, "exact" if "exact" in (k, kind) else "alias")

        for p in self.plants.values():
            full = catalog.fold(p.name)
            add(full, p.slug, "exact")
            add(full.replace(",", ""), p.slug, "exact")
            add(p.slug.replace("_", " "), p.slug, "exact")
            core = full
            for prefix in _GENERIC_PREFIXES:
                if core.startswith(prefix):
                    core = core[len(prefix):]
                    break
            add(core, p.slug, "exact")
            for v in {full, core}:
                stripped = _TRAILING_NUMERAL.sub("", v)
                if stripped != v:
                    add(stripped, p.slug, "alias")
                without_region = _REGION_SUFFIX.sub("", v)
                if without_region != v:
                    add(without_region, p.slug, "alias")
            for alias in p.aliases:
                add(catalog.fold(alias), p.slug, "alias")
        return {k: (frozenset(v), kind) for k, (v, kind) in index.items()}

    @cached_property
    def _plant_rx(self) -> re.Pattern[str] | None:
        return _word_regex(self._plant_index) if self._plant_index else None

    @cached_property
    def _full_tokens(self) -> dict[str, tuple[str, ...]]:
        return {p.slug: tuple(catalog.fold(p.name).replace(",", "").split())
                for p in self.plants.values()}

    @cached_property
    def _fuzzy_choices(self) -> list[str]:
        return [v for v in self._plant_index if len(v) >= 5]

    def plant_candidates(self, variant: str) -> frozenset[str]:
        """Plants a (folded) exact variant names, widened by the prefix rule."""
        slugs, _ = self._plant_index[variant]
        tokens = tuple(variant.replace(",", "").split())
        wider = {s for s, full in self._full_tokens.items()
                 if len(full) > len(tokens) and full[:len(tokens)] == tokens}
        if len(slugs) == 1 and next(iter(slugs)) in wider:
            wider.discard(next(iter(slugs)))
        return slugs | wider


_DEFAULT: Vocabulary | None = None


# ------------------------------------------------------------------ extraction

_STOPWORDS = frozenset("""
a o as os um uma de do da dos das em no na nos nas ao aos e ou que qual quais quanto
quanta quantos quantas como por para pelo pela pelos pelas com sem se foi foram era sao e
é esta este isso esse essa entre sobre me mostre mostra diga informe liste quero saber ver
usina usinas planta plantas dam plant plants station hydroelectric complexo conjunto
parque usina the of in on at to for from by with and or what which how much many was were
is are did does do show give tell list me my i we our your all each every between over
during last past this that it its their there per than more most less least mais menos
maior maiores menor menores top energia energy eletricidade electricity total media medio
average mean pico maximo minimo peak maximum minimum valor value dia dias day days semana
semanas week weeks mes meses month months ano anos year years hora horas hour hours hoje
ontem today yesterday agora now atual current
""".split())  # noqa: SIM905 - a word list reads better as text


def _measure_and_tag_words() -> frozenset[str]:
    words: set[str] = set()
    for phrase in (*MEASURE_WORDS, *REGION_WORDS, *SOURCE_WORDS, *SECTOR_WORDS, *STATE_WORDS):
        words.update(re.findall(r"[a-z0-9]+", phrase))
    return frozenset(words)


KNOWN_WORDS = _STOPWORDS | _measure_and_tag_words()


def mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for s, e in spans:
        for i in range(s, e):
            chars[i] = " "
    return "".join(chars)


@dataclass
class PlantGroup:
    """Plants named by one piece of the question: one slug, or several when ambiguous."""

    text: str
    span: tuple[int, int]
    slugs: frozenset[str]
    match: MatchKind
    score: float


def find_measures(folded: str, cased: str) -> list[EntityMatch]:
    out = []
    for m in _MEASURE_RX.finditer(folded):
        fld = MEASURE_WORDS[m.group(0)]
        out.append(EntityMatch(kind="measure", text=cased[m.start():m.end()], value=fld,
                               display=fld, match="exact", score=100.0,
                               span=(m.start(), m.end())))
    return out


def _entity_matches(rx: re.Pattern[str], words: Mapping[str, str], kind: EntityKind,
                    folded: str, cased: str, names: Mapping[str, catalog.Entity],
                    lang: str) -> list[EntityMatch]:
    out = []
    for m in rx.finditer(folded):
        value = words[m.group(0)]
        ent = names[value]
        canonical = {catalog.fold(ent.name_pt), catalog.fold(ent.name_en), ent.slug}
        out.append(EntityMatch(
            kind=kind, text=cased[m.start():m.end()], value=value,
            display=ent.name_pt if lang == "pt" else ent.name_en,
            match="exact" if m.group(0) in canonical else "alias", score=100.0,
            span=(m.start(), m.end())))
    return out


def find_regions(folded: str, cased: str, lang: str) -> list[EntityMatch]:
    out = _entity_matches(_REGION_RX, REGION_WORDS, "region", folded, cased, catalog.REGIONS, lang)
    taken = [e.span for e in out]
    for m in _REGION_CODE_RX.finditer(cased):
        if any(s < m.end() and m.start() < e for s, e in taken):
            continue
        value = catalog.ONS_SUBSYSTEM_IDS[m.group(1)]
        r = catalog.REGIONS[value]
        out.append(EntityMatch(kind="region", text=m.group(0), value=value,
                               display=r.name_pt if lang == "pt" else r.name_en,
                               match="alias", score=100.0, span=(m.start(), m.end())))
    return sorted(out, key=lambda e: e.span)


def find_sources(folded: str, cased: str, lang: str) -> list[EntityMatch]:
    return _entity_matches(_SOURCE_RX, SOURCE_WORDS, "source", folded, cased, catalog.SOURCES, lang)


def find_sectors(folded: str, cased: str, lang: str) -> list[EntityMatch]:
    return _entity_matches(_SECTOR_RX, SECTOR_WORDS, "sector", folded, cased, catalog.SECTORS, lang)


def find_plants_exact(vocab: Vocabulary, folded: str) -> list[PlantGroup]:
    rx = vocab._plant_rx
    if rx is None:
        return []
    out = []
    for m in rx.finditer(folded):
        variant = m.group(0)
        _, kind = vocab._plant_index[variant]
        out.append(PlantGroup(variant, (m.start(), m.end()), vocab.plant_candidates(variant),
                              kind, 100.0))
    return out


def find_plants_fuzzy(vocab: Vocabulary, folded: str) -> list[PlantGroup]:
    """Fuzzy matches among words no other rule explained (1–3 word windows, longest first)."""
    choices = vocab._fuzzy_choices
    if not choices:
        return []
    tokens = [(m.start(), m.end(), m.group(0)) for m in re.finditer(r"[a-z0-9]+", folded)]
    usable = [len(w) >= 3 and w not in KNOWN_WORDS and not w.isdigit() for _, _, w in tokens]
    used = [False] * len(tokens)
    out: list[PlantGroup] = []
    for size in (3, 2, 1):
        for i in range(len(tokens) - size + 1):
            window = range(i, i + size)
            if any(used[j] or not usable[j] for j in window):
                continue
            # tokens must be adjacent words (no masked text between them)
            if any(folded[tokens[j][1]:tokens[j + 1][0]].strip() for j in range(i, i + size - 1)):
                continue
            text = " ".join(tokens[j][2] for j in window)
            if len(text) < 5:
                continue
            hits = process.extract(text, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF,
                                   limit=5)
            if not hits:
                continue
            best = hits[0][1]
            slugs: set[str] = set()
            for variant, score, _ in hits:
                if score >= best - FUZZY_TIE:
                    slugs |= vocab.plant_candidates(variant)
            for j in window:
                used[j] = True
            span = (tokens[i][0], tokens[i + size - 1][1])
            out.append(PlantGroup(text, span, frozenset(slugs), "fuzzy", round(float(best), 1)))
    return sorted(out, key=lambda g: g.span)
