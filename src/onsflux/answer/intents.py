"""Intents, refusals and the QuerySpec each intent produces. Pure: no I/O.

Intents: ``trend``, ``peak``, ``minimum``, ``total``, ``average``, ``comparison``,
``ranking``, ``share``, ``latest``, ``capacity_factor``, ``losses``, ``interchange``.
The label is the most specific one found (share > ranking > comparison > the measure
intents capacity_factor/losses/interchange > latest > peak > minimum > trend > total >
average); the words for peak/minimum/trend/total/average/latest still choose the
aggregate of the label's query ("pico do intercâmbio" → interchange, ``max``).

How each measure is aggregated (``multi`` = several generation series are summed, i.e.
generation not restricted to exactly one plant):

=================  =============================  ===============================
modifier           generation ``power_mw``        other fields
=================  =============================  ===============================
total / none       ``energy`` (MWh)               demand/flow: ``energy`` if total,
                                                  else ``mean``; losses: ``sum``;
                                                  ratios and kV: ``mean``
average            one plant: ``mean``; multi:    ``mean``
                   ``energy`` + postprocess
                   ``mean_power`` (MWh ÷ hours)
peak / minimum     one plant: ``max``/``min``;    ``max`` / ``min``
                   multi: hourly ``sum`` windows,
                   ``top``/``bottom`` 1
latest             one plant: ``last``; multi:    ``last``
                   hourly ``sum``, newest first,
                   limit 1
trend              ``energy`` per window (MWh)    ``mean`` per window (losses: ``sum``)
=================  =============================  ===============================

Whole system (SIN/Brasil, or no region named): generation has no region filter (every
plant belongs to one of the four subsystems); load reads the ``sin`` series
(``region = sin``, the system total of the data contract); comparisons and rankings of
load by region use the four subsystems.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from typing import Any, Literal

from .timeexpr import NUMBER_WORDS

__all__ = [
    "INTENTS",
    "Intent",
    "Plan",
    "build_spec_args",
    "detect_modifiers",
    "refusal",
]

Intent = Literal["trend", "peak", "minimum", "total", "average", "comparison", "ranking", "share",
                 "latest", "capacity_factor", "losses", "interchange"]
INTENTS: tuple[str, ...] = ("trend", "peak", "minimum", "total", "average", "comparison", "ranking",
                            "share", "latest", "capacity_factor", "losses", "interchange")
SUBSYSTEMS = ("north", "northeast", "southeast", "south")


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(parts) + r")(?![a-z0-9])")


_NUMW = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))

# ------------------------------------------------------------------ refusals

INJECTION = _rx(
    r"drop\s+(?:database|table|measurement|series|bucket|retention|user|schema|all|the)",
    r"(?:truncate|alter|grant|revoke)\s+\w+",
    r"delete\s+(?:from|all|the|everything|every|data|os|as|todos|todas|tudo)",
    r"(?:apague|apagar|apaga|deletar|delete|deleta|remova|remover|exclua|excluir|limpe|limpar"
    r"|destrua|destruir|wipe|erase|remove|sobrescreva|overwrite|altere|alterar|modifique"
    r"|modify|insira|inserir)",
    r"insert\s+into", r"update\s+\w+\s+set", r"create\s+(?:database|table|user|bucket)",
    r"write\s+(?:a\s+)?points?", r"escreva\s+(?:um\s+)?ponto",
    r"ignore\s+(?:all\s+|any\s+)?(?:the\s+|your\s+)?(?:previous|prior|above|earlier|preceding)",
    r"ignore\s+(?:your|all|the)\s+(?:instructions|rules)",
    r"ignor[ea]r?\s+(?:todas\s+)?(?:as\s+)?(?:instrucoes|regras)(?:\s+anteriores)?",
    r"esqueca\s+(?:todas\s+)?(?:as\s+)?(?:instrucoes|regras)", r"disregard", r"system\s+prompt",
    r"prompt\s+do\s+sistema", r"you\s+are\s+now", r"voce\s+agora\s+e", r"jailbreak",
    r"developer\s+mode", r"modo\s+desenvolvedor", r"api\s+keys?", r"tokens?", r"passwords?",
    r"senhas?", r"credenciais", r"credentials", r"secrets?", r"segredos", r"variaveis de ambiente",
    r"environment\s+variables", r"union\s+select", r"select\s+.+\s+from", r"show\s+(?:databases|"
    r"measurements|series|users|retention|tag|field)", r"from\s*\(\s*bucket", r"execute",
    r"executar?", r"execute\s+(?:esta|a)\s+consulta", r"rm\s+-rf", r"os\.system", r"__import__",
    r"eval\s*\(", r"exec\s*\(", r"sudo", r"shutdown", r"desligue", r"reinicie", r"restart",
)
INJECTION_CHARS = re.compile(r";\s*\S|--|/\*|\*/|\|>|<\s*script|\$\(|`|'\s*or\s*'|\b1\s*=\s*1\b|"
                             r"\{\{|\}\}|\\x[0-9a-f]{2}|\bor\s+1\b")

# Refusal by scope, not by a word list. A question is refused outright only when it asks
# for something the data cannot hold (prices, weather and hydrology, emissions, forecasts,
# other countries, things that are not data questions): the terms below are specific to
# those subjects. Common words that often come with out-of-scope questions ("capital",
# "drought", "expected", "level", "why", "outage"...) refuse nothing on their own: they are
# only the reason given when the question also names nothing of the catalog (no measure,
# field, plant, source, sector or line) -- see ``SOFT_OUT_OF_SCOPE``.
OUT_OF_SCOPE: list[tuple[str, re.Pattern[str]]] = [
    ("price", _rx(r"precos?", r"pld", r"tarifas?", r"custos?", r"custou", r"custaram", r"prices?",
                  r"pricing", r"priced", r"tariffs?", r"costs?", r"r\$", r"reais", r"dolar(?:es)?",
                  r"dollars?", r"spot prices?", r"preco spot", r"cmo", r"bandeiras?\s+tarifarias?",
                  r"mercado\s+livre", r"conta\s+de\s+luz", r"electricity\s+bill", r"faturamento",
                  r"receita", r"revenue", r"lucro", r"profit")),
    ("weather", _rx(r"clima", r"previsao do tempo", r"temperaturas?", r"chuvas?", r"chover", r"choveu",
                    r"weather", r"temperatures?", r"rain", r"rained", r"rainfall", r"precipitacao",
                    r"precipitation", r"umidade", r"humidity", r"velocidade do vento",
                    r"wind speeds?", r"irradiacao", r"irradiance", r"nuvens", r"clouds?",
                    r"reservatorios?", r"reservoirs?", r"armazenamento", r"vazao", r"vazoes",
                    r"afluencia", r"ena", r"inflows?", r"streamflow")),
    ("emissions", _rx(r"emissao", r"emissoes", r"emissions?", r"co2", r"carbono", r"carbon",
                      r"poluicao", r"pollution", r"gases de efeito estufa", r"greenhouse", r"gee",
                      r"pegada", r"footprint")),
    ("forecast", _rx(r"previsao", r"previsoes", r"previst[oa]s?", r"forecasts?", r"predict\w*",
                     r"prever", r"projecao", r"projecoes", r"projection", r"projetad[oa]",
                     r"vai ser", r"vai gerar", r"vai consumir", r"vao gerar", r"vao consumir",
                     r"ira\s+(?:gerar|consumir|ser|produzir)",
                     r"will\s+(?:\w+\s+)?(?:be|generate|produce|consume|reach|need|demand|flow|have)",
                     r"going to", r"futur[oa]s?", r"future", r"estimativa para")),
    ("country", _rx(r"argentina", r"uruguai", r"uruguay", r"paraguai", r"paraguay", r"chile",
                    r"bolivia", r"venezuela", r"colombia", r"peru", r"estados unidos", r"eua",
                    r"united states", r"u\.s\.", r"china", r"alemanha", r"germany", r"germany's",
                    r"franca", r"france", r"europa", r"europe", r"india", r"japao", r"japan",
                    r"mexico", r"canada", r"portugal", r"espanha", r"spain", r"texas",
                    r"california", r"reino unido", r"united kingdom", r"uk", r"africa", r"australia")),
    ("other", _rx(r"capacidade instalada", r"installed capacity", r"quantas usinas",
                  r"how many plants", r"numero de usinas", r"number of plants",
                  r"bitcoin", r"receita de bolo", r"poem", r"poema", r"piada", r"joke", r"jokes")),
]
WHY = _rx(r"por que", r"porque", r"por qual motivo", r"why", r"what caused", r"o que causou")
#: words that name an out-of-scope subject only when nothing of the catalog is named
SOFT_OUT_OF_SCOPE: list[tuple[str, re.Pattern[str]]] = [
    ("weather", _rx(r"seca", r"secas", r"drought", r"el nino", r"la nina", r"nivel", r"niveis",
                    r"level", r"levels")),
    ("forecast", _rx(r"expected", r"esperad[oa]s?", r"will", r"amanha", r"tomorrow")),
    ("other", _rx(r"capital", r"presidente", r"president", r"por que", r"porque", r"why",
                  r"apagoes?", r"apagao", r"blackouts?", r"outages?", r"interrupcoes", r"clientes",
                  r"customers", r"consumidores", r"empregos", r"jobs", r"acoes", r"stocks?",
                  r"spot")),
]

_REASONS = {
    "injection": (
        "Só respondo perguntas de leitura sobre os dados de geração, carga e transmissão do ONS; "
        "não executo outros comandos nem operações.",
        "I only answer read-only questions about ONS generation, load and transmission data; "
        "I do not run other commands or operations."),
    "price": ("Preços, tarifas, PLD e custos não estão nos dados disponíveis (geração, carga e "
              "transmissão do ONS).",
              "Prices, tariffs, PLD and costs are not in the available data (ONS generation, "
              "load and transmission)."),
    "weather": ("Dados meteorológicos e hidrológicos (clima, chuva, reservatórios) não estão nos "
                "dados disponíveis.",
                "Weather and hydrology data (temperature, rain, reservoirs) are not in the "
                "available data."),
    "emissions": ("Emissões (CO2) não estão nos dados disponíveis.",
                  "Emissions (CO2) are not in the available data."),
    "forecast": ("Não faço previsões: os dados cobrem apenas o passado medido.",
                 "I do not make forecasts: the data only covers measured past values."),
    "country": ("Os dados cobrem apenas o Sistema Interligado Nacional (Brasil).",
                "The data only covers Brazil's National Interconnected System (SIN)."),
    "other": ("Essa pergunta não é sobre os dados disponíveis (geração, carga, intercâmbio, "
              "perdas e fatores de capacidade do ONS).",
              "That question is not about the available data (ONS generation, load, "
              "interchange, losses and capacity factors)."),
    "unknown": ("Não entendi o que medir: pergunte sobre geração, carga, intercâmbio, perdas ou "
                "fator de capacidade.",
                "I could not tell what to measure: ask about generation, load, interchange, "
                "losses or capacity factor."),
    "state_scope": ("Por estado só há dados de geração (usinas); carga e intercâmbio são por "
                    "subsistema (N, NE, SE/CO, S).",
                    "Only generation (plants) has a state; load and interchange are per "
                    "subsystem (N, NE, SE/CO, S)."),
    "unknown_plant": ("Não encontrei essa usina nos dados.",
                      "I could not find that plant in the data."),
    "period_unknown": ("Não entendi o período pedido (“{detail}”), e não respondo por outro período. "
                       "Diga, por exemplo, “em março de 2024”, “na semana passada” ou “entre 1 e 15 "
                       "de março de 2024”.",
                       "I did not understand the period asked for (“{detail}”), and I will not "
                       "answer for another one. Say, for example, “in March 2024”, “last week” or "
                       "“from March 1 to March 15, 2024”."),
    "period_invalid": ("“{detail}” não é uma data que exista.",
                       "“{detail}” is not a date that exists."),
    "period_future": ("O período pedido (“{detail}”) ainda não começou: os dados cobrem apenas o "
                      "passado medido, e não faço previsões.",
                      "The period asked for (“{detail}”) has not started yet: the data only covers "
                      "measured past values, and I do not make forecasts."),
    "period_retention": ("Não há dados no período pedido (“{detail}”): os dados são guardados por "
                         "7 anos (retenção de 2555 dias), ou seja, desde {since}.",
                         "There is no data in the period asked for (“{detail}”): data is kept for "
                         "7 years (a 2555-day retention), that is since {since}."),
}


def reason(code: str, language: str, **detail: str) -> str:
    pt, en = _REASONS[code]
    text = pt if language == "pt" else en
    return text.format(**detail) if detail else text


def refusal(folded: str, raw: str) -> str | None:
    """The refusal code for an injection attempt or a question about something the data
    cannot hold, or None."""
    if INJECTION.search(folded) or INJECTION_CHARS.search(raw.lower()):
        return "injection"
    for code, rx in OUT_OF_SCOPE:
        if rx.search(folded):
            return code
    return None


def soft_refusal(folded: str) -> str | None:
    """The out-of-scope subject a question hints at with common words (used only when it
    names nothing of the catalog)."""
    for code, rx in SOFT_OUT_OF_SCOPE:
        if rx.search(folded):
            return code
    return None


# ------------------------------------------------------------------ modifiers

SHARE = _rx(r"participac\w*", r"shares?", r"mix", r"matriz", r"percentua\w*", r"porcentage\w*",
            r"percentage", r"percent", r"proporc\w*", r"proportions?", r"fatias?", r"composicao",
            r"breakdown", r"contribui\w*", r"contribution", r"each source contribute\w*")
RANKING_WORD = _rx(r"top", r"ranking", r"rank", r"ranked", r"classificacao", r"lideres", r"leaders?")
SUPERLATIVE = _rx(r"mais", r"menos", r"most", r"least", r"maior", r"menor", r"maiores", r"menores",
                  r"highest", r"lowest", r"largest", r"biggest", r"smallest", r"principais",
                  r"best", r"worst", r"melhores", r"piores")
BOTTOM_WORD = _rx(r"menos", r"least", r"menor", r"menores", r"lowest", r"smallest", r"bottom",
                  r"worst", r"piores")
SUBJECT_PLANT = _rx(r"usinas?", r"plants?", r"geradoras?", r"empreendimentos", r"stations?",
                    r"hidreletricas", r"termicas", r"eolicas", r"parques", r"complexos", r"dams")
SUBJECT_REGION = _rx(r"regiao", r"regioes", r"subsistemas?", r"regions?", r"subsystems?")
SUBJECT_LINE = _rx(r"linhas?", r"lines?", r"circuitos?", r"interligac\w*", r"interconnections?",
                   r"interconnectors?", r"corredor(?:es)?", r"corridors?")
SUBJECT_SOURCE = _rx(r"fontes?", r"sources?", r"tipos? de (?:usina|fonte|geracao)",
                     r"type of (?:plant|source|generation)")
WHICH = _rx(r"qual", r"quais", r"which", r"what", r"que")
COMPARE = _rx(r"compar\w*", r"versus", r"vs\.?", r"diferenca entre", r"difference between",
              r"em relacao", r"relative to", r"contra", r"against")
PEAK = _rx(r"picos?", r"maxim[oa]s?", r"maior valor", r"peak\w*", r"maximum", r"max", r"highest",
           r"recorde", r"record", r"mais alt[oa]", r"maior (?:carga|demanda|geracao|fluxo|intercambio"
           r"|fator|perda)", r"ponta", r"top value")
MINIMUM = _rx(r"minim[oa]s?", r"menor valor", r"minimum", r"min", r"lowest", r"mais baix[oa]",
              r"menor (?:carga|demanda|geracao|fluxo|intercambio|fator|perda)")
TOTAL = _rx(r"total", r"totais", r"soma", r"somad[oa]s?", r"sum", r"acumulad[oa]s?", r"cumulative",
            r"quanta energia", r"how much energy", r"mwh", r"gwh", r"twh", r"altogether",
            r"in total", r"no total", r"gerou", r"geraram", r"produziu", r"produziram",
            r"consumiu", r"consumiram", r"generated", r"produced", r"consumed", r"exportou",
            r"importou", r"exported", r"imported", r"transferiu", r"transferred")
AVERAGE = _rx(r"medias?", r"medios?", r"average", r"mean", r"avg", r"em media", r"on average",
              r"tipic[oa]", r"typical")
LATEST = _rx(r"atual", r"atualmente", r"agora", r"neste momento", r"no momento", r"current",
             r"currently", r"now", r"latest", r"mais recente", r"most recent", r"ultimo valor",
             r"ultima leitura", r"last value", r"last reading", r"ultimo registro", r"right now",
             r"em tempo real", r"real time", r"ultima medicao", r"last measurement")
TREND = _rx(r"evolu\w*", r"tendencias?", r"trends?", r"over time", r"ao longo", r"series?",
            r"graficos?", r"charts?", r"plot", r"graph", r"curvas?", r"perfil", r"profile",
            r"variou", r"variacao", r"variation", r"comportamento", r"behaviou?r", r"evolved",
            r"evolve", r"by day", r"por dia", r"diari[oa]s?", r"daily", r"por hora", r"hourly",
            r"horari[oa]s?", r"semanal", r"weekly", r"by hour", r"per day", r"per hour",
            r"dia a dia", r"hora a hora", r"historico", r"history", r"changed?", r"mudou",
            r"behav\w*", r"comport\w*", r"semana a semana", r"week by week", r"mes a mes",
            r"month by month",
            r"cresceu", r"caiu", r"subiu", r"grew", r"rose", r"fell", r"aument\w*",
            r"diminu\w*", r"oscil\w*", r"increase\w*", r"decrease\w*", r"by week", r"por semana",
            r"day by day", r"hour by hour")
GRAIN_WORDS: list[tuple[str, re.Pattern[str]]] = [
    ("1h", _rx(r"por hora", r"hourly", r"horari[oa]s?", r"by hour", r"per hour", r"hora a hora",
               r"hour by hour")),
    ("1d", _rx(r"por dia", r"diari[oa]s?", r"daily", r"by day", r"per day", r"dia a dia",
               r"day by day")),
    ("7d", _rx(r"semanal", r"weekly", r"by week", r"por semana", r"per week", r"semana a semana",
               r"week by week", r"a cada semana", r"each week")),
]
MONTHLY = _rx(r"mensal", r"mensais", r"monthly", r"por mes", r"by month", r"per month", r"mes a mes",
              r"month by month", r"a cada mes", r"each month", r"cada mes")
#: the measure's extreme named as a noun: with a ranking it chooses the aggregate
#: ("which region had the highest peak load"), where "maior"/"highest" alone only rank
PEAK_NOUN = _rx(r"picos?", r"peaks?", r"maxim[oa]s?", r"maximum", r"max", r"ponta", r"recordes?",
                r"records?")
MIN_NOUN = _rx(r"minim[oa]s?", r"minimum", r"min", r"vales?")
GROWTH = _rx(r"cresceu mais", r"mais cresceu", r"cresceram mais", r"mais cresceram",
             r"grew (?:the )?most", r"grown (?:the )?most", r"most growth", r"maior crescimento",
             r"(?:biggest|largest|greatest|highest) (?:growth|increase|rise)",
             r"increased (?:the )?most", r"rose (?:the )?most", r"aumentou mais", r"mais aumentou",
             r"subiu mais", r"mais subiu")
DECLINE = _rx(r"caiu mais", r"mais caiu", r"cairam mais", r"mais cairam", r"fell (?:the )?most",
              r"declined (?:the )?most", r"decreased (?:the )?most", r"dropped (?:the )?most",
              r"maior queda", r"(?:biggest|largest|greatest) (?:drop|decline|fall|decrease)",
              r"diminuiu mais", r"mais diminuiu")
GROUP_REGION = _rx(r"por (?:regiao|regioes|subsistema)", r"cada (?:regiao|subsistema)",
                   r"(?:by|per|each|across) (?:region|subsystem)s?", r"(?:entre )?as regioes",
                   r"(?:between |all )?(?:the )?regions", r"todas as regioes", r"dos subsistemas",
                   r"das regioes", r"os subsistemas", r"the subsystems", r"regiao a regiao")
GROUP_SOURCE = _rx(r"por (?:fonte|tipo|tipo de usina|tipo de fonte)", r"cada fonte",
                   r"(?:by|per|each|across) (?:source|type|fuel)s?", r"(?:entre )?as fontes",
                   r"das fontes", r"(?:between |all )?(?:the )?sources", r"todas as fontes")
GROUP_PLANT = _rx(r"por usina", r"cada usina", r"(?:by|per|each) plant", r"das usinas")
GROUP_STATE = _rx(r"por (?:estado|uf)", r"cada estado", r"(?:by|per|each|across) states?",
                  r"dos estados", r"estado a estado")
TOP_N = [
    re.compile(rf"(?<![a-z0-9])top\s*(?P<n>\d+|{_NUMW})(?![a-z0-9])"),
    re.compile(rf"(?<![a-z0-9])(?P<n>\d+|{_NUMW})\s+(?:maiores|menores|principais|primeir[ao]s|largest"
               rf"|biggest|top|highest|lowest|smallest|most|least|usinas|plants|fontes|sources"
               rf"|regioes|regions|ultim[ao]s|bottom|best|worst|melhores|piores|linhas|lines"
               rf"|subsistemas|subsystems)(?![a-z0-9])"),
    re.compile(rf"(?<![a-z0-9])bottom\s*(?P<n>\d+|{_NUMW})(?![a-z0-9])"),
]
PLURAL_SUBJECT = _rx(r"usinas", r"plants", r"fontes", r"sources", r"regioes", r"regions",
                     r"geradoras", r"subsistemas", r"subsystems", r"complexos", r"parques",
                     r"linhas", r"lines", r"circuitos", r"interligacoes", r"interconnections")
QUANTITY = _rx(r"quanto", r"quanta", r"quantos", r"how much", r"how many", r"qual foi",
               r"what was", r"what is", r"what's", r"qual e", r"qual o", r"qual a", r"valor",
               r"value", r"numeros?", r"numbers?", r"dados", r"data")
DIRECTION_TO = re.compile(r"^\s*(?:>|-+>|para|pro|pra|to|into|towards|rumo|em direcao|ao|a|-|/)\s*"
                          r"(?:o|a|the)?\s*$")
BETWEEN = re.compile(r"(?:entre|between)\s+(?:o|a|os|as|the)?\s*$")
IMPORT = _rx(r"import\w*", r"recebeu", r"received", r"into", r"entrando", r"incoming",
             r"de entrada", r"chegou")


NAMED_PLANT = re.compile(
    r"(?<![a-z0-9])(?:usina|uhe|ute|utn|ufv|eol|complexo|conjunto|parque)\s+(?:eolico\s+|solar\s+|de\s+|do\s+|da\s+)?"
    r"(?P<a>[a-z0-9_]+)|(?P<b>[a-z0-9_]+)\s+(?:plant|dam|power station|wind farm|solar park)(?![a-z])")


#: words that follow "usina"/"plant" in a sentence without naming one ("qual usina teve...")
_NOT_A_NAME = frozenset("""
teve tem tinha tiveram foi era sao que qual quais mais menos gerou geraram produziu produziram
registrou apresentou alcancou atingiu ficou esteve with had has have was were is are that which
generated produced reached recorded showed
""".split())  # noqa: SIM905 - a word list reads better as text


def named_unknown_plant(rest: str, known: frozenset[str]) -> str | None:
    """A word the question presents as a plant name ("usina Xyzzy") that nothing explained."""
    for m in NAMED_PLANT.finditer(rest):
        word = m["a"] or m["b"]
        if word in _NOT_A_NAME:
            continue
        if word and word not in known and not word.isdigit() and len(word) > 2:
            return word
    return None


def top_n(text: str) -> int | None:
    for rx in TOP_N:
        m = rx.search(text)
        if m:
            n = m["n"]
            return int(n) if n.isdigit() else NUMBER_WORDS[n]
    return None


@dataclass
class Modifiers:
    """Words of the question that shape the query, found on text with time and names masked."""

    share: bool = False
    ranking: bool = False
    ranking_subject: str = "plant"
    bottom: bool = False
    n: int | None = None
    compare: bool = False
    group_by: str | None = None
    aggregate_word: str | None = None   # peak | minimum | latest | trend | total | average
    grain: str | None = None
    monthly: bool = False
    quantity: bool = False
    breakdown: bool = False
    """an extreme per window ("pico diário", "daily minimum"): one value per bucket"""
    total: bool = False
    """a word for a total ("consumo total", "consumiu"): energy (MWh) rather than MW"""
    growth: str | None = None
    """top | bottom: rank by the change from the first to the last whole bucket"""


def detect_modifiers(text: str) -> Modifiers:
    mod = Modifiers()
    mod.share = bool(SHARE.search(text))
    mod.n = top_n(text)
    subject = None
    if SUBJECT_LINE.search(text):
        subject = "line"
    elif SUBJECT_REGION.search(text):
        subject = "region"
    elif SUBJECT_SOURCE.search(text):
        subject = "source"
    elif SUBJECT_PLANT.search(text):
        subject = "plant"
    explicit = bool(RANKING_WORD.search(text)) or mod.n is not None
    if GROWTH.search(text) or DECLINE.search(text):
        mod.growth = "top" if GROWTH.search(text) else "bottom"
        if subject is None:
            subject = "source"
    if explicit or (subject and (WHICH.search(text) or mod.growth) and (
            SUPERLATIVE.search(text) or mod.growth)):
        mod.ranking = True
        mod.ranking_subject = subject or "plant"
        mod.bottom = bool(BOTTOM_WORD.search(text)) and not re.search(r"\btop\b", text)
        if mod.n is None and not explicit:
            mod.n = None if PLURAL_SUBJECT.search(text) else 1
        if mod.growth:
            mod.bottom = mod.growth == "bottom"
    mod.compare = bool(COMPARE.search(text))
    if GROUP_REGION.search(text):
        mod.group_by = "region"
    elif GROUP_SOURCE.search(text):
        mod.group_by = "source"
    elif GROUP_PLANT.search(text):
        mod.group_by = "plant"
    elif GROUP_STATE.search(text):
        mod.group_by = "state"
    for word, rx in (("latest", LATEST), ("peak", PEAK), ("minimum", MINIMUM), ("trend", TREND),
                     ("total", TOTAL), ("average", AVERAGE)):
        if rx.search(text):
            if word in ("peak", "minimum") and mod.ranking and not (
                    PEAK_NOUN if word == "peak" else MIN_NOUN).search(text):
                continue  # "maior"/"menor" rank, they do not pick a single point
            mod.aggregate_word = word
            break
    for grain, rx in GRAIN_WORDS:
        if rx.search(text):
            mod.grain = grain
            if mod.aggregate_word in (None, "total", "average"):
                mod.aggregate_word = "trend"
            elif mod.aggregate_word in ("peak", "minimum"):
                mod.breakdown = True
            break
    if MONTHLY.search(text):
        mod.monthly = True
        mod.grain = None
        if mod.aggregate_word in (None, "total", "average"):
            mod.aggregate_word = "trend"
        elif mod.aggregate_word in ("peak", "minimum"):
            mod.breakdown = True
    mod.total = bool(TOTAL.search(text))
    mod.quantity = bool(QUANTITY.search(text)) or mod.aggregate_word is not None
    return mod


# ------------------------------------------------------------------ spec arguments

@dataclass
class Plan:
    """Everything that decides a spec, minus the time range."""

    measurement: str
    field: str
    where: dict[str, list[str]] = dc_field(default_factory=dict)
    group_by: list[str] = dc_field(default_factory=list)
    modifier: str | None = None      # the aggregate word
    rank: tuple[str, int] | None = None
    share: bool = False
    breakdown: bool = False          # one extreme per window
    monthly: bool = False            # calendar-month buckets (made from local days)
    day_filter: str | None = None    # weekend | weekday
    growth: tuple[str, int] | None = None
    total: bool = False              # a total asked for: MW fields as energy per window


def build_spec_args(plan: Plan, start: datetime, stop: datetime, grain: str,
                    timezone: str) -> tuple[dict[str, Any], list[str]]:
    """The ``QuerySpec`` arguments for ``plan`` over ``[start, stop)``, and postprocess steps."""
    f = plan.field
    mod = plan.modifier
    single = True
    if plan.measurement == "generation_data":
        plants = plan.where.get("plant", [])
        single = len(plants) == 1 or "plant" in plan.group_by
    args: dict[str, Any] = {
        "measurement": plan.measurement, "fields": [f], "start": start.isoformat(),
        "stop": stop.isoformat(), "timezone": timezone,
    }
    if plan.where:
        args["where"] = {k: sorted(v) for k, v in plan.where.items()}
    post: list[str] = []
    grouped = bool(plan.group_by)

    def multi_window(agg: str) -> None:
        args.update(every="1h", aggregate="sum")
        if grouped:
            post.append(f"{agg}_per_group")
        elif agg == "peak":
            args["top"] = 1
        elif agg == "minimum":
            args["bottom"] = 1
        else:  # latest
            args.update(order="desc", limit=1)

    if f == "power_mw":
        if mod == "trend":
            args.update(every=grain, aggregate="energy")
        elif mod == "average":
            if single:
                args["aggregate"] = "mean"
            else:
                args["aggregate"] = "energy"
                post.append("mean_power")
        elif mod in ("peak", "minimum", "latest"):
            if single:
                args["aggregate"] = {"peak": "max", "minimum": "min", "latest": "last"}[mod]
            else:
                multi_window(mod)
        else:
            args["aggregate"] = "energy"
    else:
        base = {"losses_mwh": "sum"}.get(f, "mean")
        if mod == "trend":
            total = plan.total and f in ("demand_mw", "flow_mw")  # "consumo total mês a mês"
            args.update(every=grain, aggregate="energy" if total else base)
        elif mod == "total":
            args["aggregate"] = "energy" if f in ("demand_mw", "flow_mw") else base
        elif mod == "average":
            args["aggregate"] = "mean"
        elif mod in ("peak", "minimum", "latest"):
            args["aggregate"] = {"peak": "max", "minimum": "min", "latest": "last"}[mod]
        else:
            args["aggregate"] = base
    if plan.group_by:
        args["group_by"] = list(plan.group_by)
    if plan.growth is not None:
        return _growth_args(plan, args, grain)
    if plan.rank is not None:
        if any(p.endswith("_per_group") for p in post):
            # the peak hour of each group's hourly sums, then the groups ranked
            post.append(f"rank:{plan.rank[0]}:{plan.rank[1]}")
        else:
            args[plan.rank[0]] = plan.rank[1]
    if plan.breakdown and mod in ("peak", "minimum"):
        _breakdown_args(plan, args, post, grain, single)
    elif plan.monthly and args.get("every"):
        args["every"] = "1d"
        post.append(f"bucket:month:{_REDUCE[args['aggregate']]}")
    if plan.day_filter:
        _day_filter_args(plan, args, post)
    if plan.share:
        post.append("share")
    _room_for_hours(args, start, stop)
    return args, post


def _room_for_hours(args: dict[str, Any], start: datetime, stop: datetime) -> None:
    """Hourly sums that the composer reduces (a peak per group or per day, a day filter)
    must all come back: raise the row limit above the default when the period needs it."""
    if args.get("every") != "1h" or args.get("aggregate") != "sum" or "top" in args \
            or "bottom" in args or args.get("order") == "desc":
        return
    hours = int((stop - start).total_seconds() // 3600) + 1
    rows = hours * (10 if args.get("group_by") else 1)  # at most 6 sources, 5 regions
    if rows > 10_000:
        args["limit"] = min(rows, 1_000_000)


#: how buckets of an aggregate combine into a larger one
_REDUCE = {"energy": "sum", "sum": "sum", "mean": "mean", "max": "max", "min": "min",
           "last": "last", "first": "first", "count": "sum"}


def _growth_args(plan: Plan, args: dict[str, Any], grain: str) -> tuple[dict[str, Any], list[str]]:
    """Rank by change: the measure per bucket and group; the composer compares the first and
    last whole buckets of each group and keeps the N largest (or smallest) changes."""
    f = plan.field
    base = "energy" if f in ("power_mw", "demand_mw") else {"losses_mwh": "sum"}.get(f, "mean")
    if plan.modifier == "average":
        base = "mean"
    args.update(every=grain, aggregate=base)
    post: list[str] = []
    if plan.monthly:
        post.append(f"bucket:month:{_REDUCE[base]}")
    assert plan.growth is not None
    post.append(f"growth:{plan.growth[0]}:{plan.growth[1]}")
    return args, post


def _breakdown_args(plan: Plan, args: dict[str, Any], post: list[str], grain: str,
                    single: bool) -> None:
    """One peak (or minimum) per window: of the series itself, or of the hourly sums when
    several generation series add up (the composer then picks one per bucket)."""
    agg = "max" if plan.modifier == "peak" else "min"
    for key in ("top", "bottom", "order", "limit"):
        args.pop(key, None)
    post[:] = [p for p in post if not p.endswith("_per_group")]
    if plan.field == "power_mw" and not single:
        args.update(every="1h", aggregate="sum")
        bucket = "month" if plan.monthly else {"1d": "day", "7d": "week"}.get(grain)
        if bucket:
            post.append(f"bucket:{bucket}:{agg}")
    else:
        args.update(every="1d" if plan.monthly else grain, aggregate=agg)
        if plan.monthly:
            post.append(f"bucket:month:{agg}")


def _day_filter_args(plan: Plan, args: dict[str, Any], post: list[str]) -> None:
    """Keep only weekend days or weekdays: query per local day (per hour for the hourly
    sums of several generation series), filter, then reduce what is left."""
    keep = f"days:{plan.day_filter}"
    if args.get("every") and not (args.get("top") == 1 or args.get("bottom") == 1
                                  or args.get("order") == "desc"):
        if args["every"] == "7d":
            args["every"] = "1d"
        post.insert(0, keep)
        return
    agg = args["aggregate"]
    if args.get("every") == "1h" and agg == "sum":  # several series: the peak/minimum hour
        red = "max" if "top" in args else "min" if "bottom" in args else "last"
        for key in ("top", "bottom", "order", "limit"):
            args.pop(key, None)
    elif "mean_power" in post:  # several series on average: mean of the hourly sums
        post.remove("mean_power")
        args.update(every="1h", aggregate="sum")
        red = "mean"
    else:
        args["every"] = "1d"
        red = _REDUCE.get(agg, "mean")
    rank = [f"rank:{k}:{args.pop(k)}" for k in ("top", "bottom") if k in args]
    post[:0] = [keep, f"reduce:{red}"]
    post.extend(rank)
