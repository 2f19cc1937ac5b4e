"""The plant registry: the named ONS plants onsflux knows. Pure catalog data, no I/O.

Both the question parser (to name plants) and the sample generator (to make their
series) read it; it lives beside the catalog, not in ``sample``, so the parser never
imports numpy, pyarrow or the sample writer to learn a plant's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import catalog

__all__ = ["PLANTS", "Plant"]


@dataclass(frozen=True)
class Plant:
    """One plant (or aggregate) as ONS names it; ``weight`` only shapes the sample series."""

    name: str
    source: str          # catalog source slug
    region: str          # catalog region slug (ONS subsystem)
    state: str | None    # UF, None for the MMGD aggregates
    capacity_mw: float
    modality: str        # cod_modalidadeoperacao
    fuel: str            # nom_tipocombustivel
    weight: float = 1.0  # hydro: dispatch weight; thermal: base capacity factor
    mmgd: bool = False

    @property
    def slug(self) -> str:
        return catalog.slug(self.name)


def _p(name: str, source: str, region: str, uf: str | None, cap: float, modality: str = "TIPO I",
       fuel: str | None = None, weight: float = 1.0, mmgd: bool = False) -> Plant:
    default_fuel = {"hydro": "Hídrica", "wind": "Eólica", "solar": "Fotovoltaica",
                    "nuclear": "Nuclear", "thermal": "Gás"}[source]
    return Plant(name, source, region, uf, float(cap), modality, fuel or default_fuel, weight,
                 mmgd)


_N, _NE, _SE, _S = "north", "northeast", "southeast", "south"

PLANTS: tuple[Plant, ...] = (
    # --- hydro: N
    _p("Tucuruí", "hydro", _N, "PA", 8_370),
    _p("Belo Monte", "hydro", _N, "PA", 11_233),
    _p("Estreito", "hydro", _N, "MA", 1_087),
    _p("Lajeado", "hydro", _N, "TO", 903),
    _p("Peixe Angical", "hydro", _N, "TO", 499),
    _p("Santo Antônio do Jari", "hydro", _N, "AP", 393, "TIPO II-A"),
    _p("Balbina", "hydro", _N, "AM", 250, "TIPO II-A"),
    _p("Pequenas Usinas Hidráulicas Norte", "hydro", _N, "TO", 500, "Pequenas Usinas"),
    # --- hydro: NE (São Francisco cascade)
    _p("Xingó", "hydro", _NE, "SE", 3_162),
    _p("Paulo Afonso IV", "hydro", _NE, "BA", 2_462),
    _p("Luiz Gonzaga", "hydro", _NE, "PE", 1_480),
    _p("Sobradinho", "hydro", _NE, "BA", 1_050),
    _p("Paulo Afonso I, II e III", "hydro", _NE, "BA", 1_423),
    _p("Apolônio Sales", "hydro", _NE, "AL", 400, "TIPO II-A"),
    # --- hydro: SE/CO (Rondônia and Mato Grosso belong to the SE/CO subsystem)
    _p("Itaipu", "hydro", _SE, "PR", 14_000, weight=1.15),
    _p("Ilha Solteira", "hydro", _SE, "SP", 3_444),
    _p("Jirau", "hydro", _SE, "RO", 3_750),
    _p("Santo Antônio", "hydro", _SE, "RO", 3_568),
    _p("Itumbiara", "hydro", _SE, "GO", 2_082),
    _p("Teles Pires", "hydro", _SE, "MT", 1_820),
    _p("São Simão", "hydro", _SE, "GO", 1_710),
    _p("Jupiá", "hydro", _SE, "SP", 1_551),
    _p("Porto Primavera", "hydro", _SE, "SP", 1_540),
    _p("Marimbondo", "hydro", _SE, "MG", 1_440),
    _p("Água Vermelha", "hydro", _SE, "SP", 1_396),
    _p("Serra da Mesa", "hydro", _SE, "GO", 1_275),
    _p("Furnas", "hydro", _SE, "MG", 1_216),
    _p("Emborcação", "hydro", _SE, "MG", 1_192),
    _p("Luiz Carlos Barreto de Carvalho", "hydro", _SE, "SP", 1_104),
    _p("Três Irmãos", "hydro", _SE, "SP", 808),
    _p("Capivara", "hydro", _SE, "SP", 619),
    _p("Nova Ponte", "hydro", _SE, "MG", 510),
    _p("Pequenas Usinas Hidráulicas Sudeste", "hydro", _SE, "MG", 3_000, "Pequenas Usinas"),
    # --- hydro: S
    _p("Governador Bento Munhoz da Rocha Netto", "hydro", _S, "PR", 1_676),
    _p("Itá", "hydro", _S, "SC", 1_450),
    _p("Salto Santiago", "hydro", _S, "PR", 1_420),
    _p("Segredo", "hydro", _S, "PR", 1_260),
    _p("Salto Caxias", "hydro", _S, "PR", 1_240),
    _p("Machadinho", "hydro", _S, "SC", 1_140),
    _p("Salto Osório", "hydro", _S, "PR", 1_078),
    _p("Campos Novos", "hydro", _S, "SC", 880),
    _p("Barra Grande", "hydro", _S, "SC", 690),
    _p("Pequenas Usinas Hidráulicas Sul", "hydro", _S, "SC", 1_800, "Pequenas Usinas"),
    # --- nuclear (SE, RJ)
    _p("Angra 1", "nuclear", _SE, "RJ", 640),
    _p("Angra 2", "nuclear", _SE, "RJ", 1_350),
    # --- thermal (weight = base capacity factor)
    _p("Mauá 3", "thermal", _N, "AM", 591, weight=0.70),
    _p("Porto do Itaqui", "thermal", _N, "MA", 360, fuel="Carvão", weight=0.55),
    _p("Parnaíba I", "thermal", _N, "MA", 676, weight=0.65),
    _p("Porto do Pecém I", "thermal", _NE, "CE", 720, fuel="Carvão", weight=0.50),
    _p("Termopernambuco", "thermal", _NE, "PE", 533, weight=0.60),
    _p("Termobahia", "thermal", _NE, "BA", 186, "TIPO II-B", fuel="Óleo Diesel", weight=0.20),
    _p("GNA I", "thermal", _SE, "RJ", 1_338, weight=0.60),
    _p("Norte Fluminense", "thermal", _SE, "RJ", 827, weight=0.75),
    _p("Santa Cruz", "thermal", _SE, "RJ", 500, weight=0.40),
    _p("Cuiabá", "thermal", _SE, "MT", 529, weight=0.30),
    _p("Usina Costa Pinto", "thermal", _SE, "SP", 120, "TIPO II-B", fuel="Biomassa",
       weight=0.55),
    _p("Jorge Lacerda", "thermal", _S, "SC", 857, fuel="Carvão", weight=0.55),
    _p("Candiota III", "thermal", _S, "RS", 350, fuel="Carvão", weight=0.65),
    # --- wind: NE (BA, RN, CE, PI, PE) and S (RS)
    _p("Conjunto Eólico Alto Sertão", "wind", _NE, "BA", 2_600, "TIPO II-C"),
    _p("Complexo Eólico Serra da Babilônia", "wind", _NE, "BA", 1_700, "TIPO II-C"),
    _p("Conjunto Eólico Rio do Vento", "wind", _NE, "RN", 2_100, "TIPO II-C"),
    _p("Complexo Eólico Santa Clara", "wind", _NE, "RN", 1_500, "TIPO II-C"),
    _p("Complexo Eólico Trairí", "wind", _NE, "CE", 1_300, "TIPO II-C"),
    _p("Conjunto Eólico Lagoa dos Ventos", "wind", _NE, "PI", 2_300, "TIPO II-C"),
    _p("Complexo Eólico Chapada do Piauí", "wind", _NE, "PI", 1_900, "TIPO II-C"),
    _p("Complexo Eólico Ventos de Araripe", "wind", _NE, "PE", 1_400, "TIPO II-C"),
    _p("Conjunto Eólico Campos Neutrais", "wind", _S, "RS", 1_200, "TIPO II-C"),
    _p("Complexo Eólico Osório", "wind", _S, "RS", 800, "TIPO II-C"),
    # --- solar: NE (BA, PI) and SE (MG)
    _p("Complexo Solar São Gonçalo", "solar", _NE, "PI", 1_200, "TIPO II-B"),
    _p("Conjunto Fotovoltaico Futura", "solar", _NE, "BA", 900, "TIPO II-B"),
    _p("Complexo Solar Sol do Sertão", "solar", _NE, "BA", 700, "TIPO II-B"),
    _p("Complexo Fotovoltaico Nova Olinda", "solar", _NE, "PI", 300, "TIPO II-B"),
    _p("Conjunto Fotovoltaico Janaúba", "solar", _SE, "MG", 1_200, "TIPO II-B"),
    _p("Complexo Solar Pirapora", "solar", _SE, "MG", 400, "TIPO II-B"),
    # --- MMGD: distributed solar, one aggregate per subsystem, no id_ons / ceg
    _p("MMGD Norte", "solar", _N, None, 1_500, "Pequenas Usinas", mmgd=True),
    _p("MMGD Nordeste", "solar", _NE, None, 5_000, "Pequenas Usinas", mmgd=True),
    _p("MMGD Sudeste/Centro-Oeste", "solar", _SE, None, 14_000, "Pequenas Usinas", mmgd=True),
    _p("MMGD Sul", "solar", _S, None, 6_000, "Pequenas Usinas", mmgd=True),
)

