"""Deterministic, realistic ONS-shaped sample data.

``generate`` is pure: from a seed, a start date and a number of days it builds hourly
series in the canonical form of the data contract (``catalog``), as polars frames with
``time`` in UTC nanoseconds and tag values as canonical slugs:

- ``generation``: ``time, region, source, plant, state, plant_id, plant_name, power_mw,
  capacity_factor`` (``plant_id`` is the ``id_ons`` as ONS publishes it, ``plant_name`` the
  name; the tags every format writes for a plant, from ``catalog.plant_tags``) — one
  row per plant and hour, ~60 named plants (Itaipu, Tucuruí, Belo Monte, Angra 1 and 2,
  wind complexes in the NE and S, solar parks, thermal plants) plus one MMGD
  (distributed solar) aggregate per subsystem;
- ``consumption``: ``time, region, demand_mw, consumption_mwh`` — the load of the four
  subsystems and of the SIN (their sum);
- ``transmission``: ``time, line, from_region, to_region, flow_mw, losses_mwh`` —
  interchange N→SE, N→NE, NE→SE, S→SE (signed: positive means from → to).

The model, in a few lines: load follows a daily profile in Brasília local time (trough
04–05h, peak 19–20h) and a weekly one (weekends ~12% lower, mostly by day), with a
day-to-day "weather" term and mild hourly noise. Solar is a bell between 06h and 18h
local, exactly zero at night, scaled by a daily cloudiness; NE wind blows harder at
night; nuclear is flat near capacity; thermal is near-flat baseload. Hydro balances:
N and SE hydro are dispatched so that each subsystem's generation equals its load plus
its net export; NE and S hydro follow their load, and the NE→SE and S→SE interchange is
whatever those subsystems have left over. Plant-level noise and capacity limits make
the generation total differ from the load by a little, as in real data.

``write`` renders a ``SampleData`` in one of three file formats:

- ``ons``: the ONS open-data files as published, quirks included
  (``GERACAO_USINA-2_{YYYY}_{MM}.parquet`` per local calendar month,
  ``CARGA_ENERGIA_{YYYY}.csv`` and ``INTERCAMBIO_NACIONAL_{YYYY}.csv`` per local year,
  ``;``-separated, dot decimals, ``din_instante`` as naive Brasília local time). Only
  the four subsystems appear (no SIN row, no losses): ONS publishes the SIN load as
  the sum of the subsystems, not as a row of these files. Quirks: some ``nom_usina``
  values are padded with trailing spaces (some plants always, others on odd local
  days), MMGD rows have null ``id_ons``, ``ceg``, ``id_estado`` and ``nom_estado``,
  and one generation Parquet stores ``val_geracao`` as strings (the second month's
  file; when the range lies in one month, its second half goes to a
  ``GERACAO_USINA-2_{YYYY}_{MM}_2.parquet`` part file with strings).
- ``processed``: the long format of the existing platform, one
  ``processed_{YYYY}_{MM}.parquet`` per UTC month: ``timestamp, region, energy_source,
  measurement_type, value, unit, plant, state, plant_id, sector, line, from_region,
  to_region``. ``energy_source`` is null for consumption and transmission rows;
  ``region`` is null for transmission rows (the transmission measurement has no
  ``region`` tag; ``from_region``/``to_region`` say where); ``sector`` is always null
  (the load is the subsystem total, as ONS publishes it).
- ``wide``: ``generation_data.parquet``, ``consumption_data.parquet``,
  ``transmission_data.parquet``, each with ``time``, the tag columns and the field
  columns named as in the catalog.

Same seed and start → byte-identical files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from . import catalog
from .catalog import ONS_GENERATION_COLUMNS, ONS_INTERCHANGE_COLUMNS, ONS_LOAD_COLUMNS
from .plants import PLANTS, Plant

__all__ = [
    "Format",
    "SampleData",
    "default_start",
    "generate",
    "write",
    "PLANTS",
    "Plant",
    "LOAD_MEAN_MW",
    "ONS_GENERATION_COLUMNS",
    "ONS_LOAD_COLUMNS",
    "ONS_INTERCHANGE_COLUMNS",
    "PROCESSED_COLUMNS",
]

Format = Literal["ons", "processed", "wide"]

UTC = dt.UTC
LOCAL = ZoneInfo(catalog.TIMEZONE)
TIME_DTYPE = pl.Datetime("ns", "UTC")

PROCESSED_COLUMNS = (
    "timestamp", "region", "energy_source", "measurement_type", "value", "unit",
    "plant", "state", "plant_id", "plant_name", "sector", "line", "from_region", "to_region",
)

SUBSYSTEMS = ("north", "northeast", "southeast", "south")  # the four ONS subsystems
ONS_ID = {r: catalog.REGIONS[r].ons_id for r in SUBSYSTEMS}
ONS_NAME = {"north": "NORTE", "northeast": "NORDESTE", "southeast": "SUDESTE", "south": "SUL"}

# mean load per subsystem (MWmed); the SIN is their sum (~81 GW)
LOAD_MEAN_MW = {"southeast": 44_000.0, "northeast": 14_000.0, "north": 10_000.0,
                "south": 13_000.0}

STATES = {
    "AM": "AMAZONAS", "AP": "AMAPÁ", "BA": "BAHIA", "CE": "CEARÁ", "GO": "GOIÁS",
    "MA": "MARANHÃO", "MG": "MINAS GERAIS", "MS": "MATO GROSSO DO SUL",
    "MT": "MATO GROSSO", "PA": "PARÁ", "PE": "PERNAMBUCO", "PI": "PIAUÍ", "PR": "PARANÁ",
    "RJ": "RIO DE JANEIRO", "RN": "RIO GRANDE DO NORTE", "RO": "RONDÔNIA",
    "RS": "RIO GRANDE DO SUL", "SC": "SANTA CATARINA", "SE": "SERGIPE", "SP": "SÃO PAULO",
    "TO": "TOCANTINS", "AL": "ALAGOAS", "ES": "ESPÍRITO SANTO",
}

ONS_TIPO = {"hydro": "HIDROELÉTRICA", "thermal": "TÉRMICA", "wind": "EOLIELÉTRICA",
            "solar": "FOTOVOLTAICA", "nuclear": "NUCLEAR"}
_CEG_KIND = {"hydro": "UHE", "thermal": "UTE", "wind": "EOL", "solar": "UFV", "nuclear": "UTN"}
_CEG_FUEL = {"Hídrica": "PH", "Gás": "GN", "Carvão": "CM", "Óleo Diesel": "OD",
             "Biomassa": "CA", "Eólica": "VT", "Fotovoltaica": "RS", "Nuclear": "UR"}
_ID_KIND = {"hydro": "UH", "thermal": "UT", "wind": "EO", "solar": "UF", "nuclear": "UN"}


# weekday load profile by local hour (start of the hour), relative to the daily mean
_LOAD_PROFILE = np.array([
    0.93, 0.89, 0.86, 0.845, 0.84, 0.85, 0.88, 0.93, 0.98, 1.01, 1.03, 1.04,
    1.03, 1.04, 1.06, 1.06, 1.05, 1.06, 1.11, 1.14, 1.13, 1.09, 1.04, 0.98,
])
# how much of the daily profile's swing each subsystem has (N is flat: industry)
_LOAD_AMPLITUDE = {"north": 0.5, "northeast": 0.8, "southeast": 1.0, "south": 1.1}
# weekend reduction (Saturday, Sunday), applied fully by day (08–21h), 40% at night
_WEEKEND_CUT = {5: 0.11, 6: 0.18}
_DAYTIME = np.where((np.arange(24) >= 8) & (np.arange(24) <= 21), 1.0, 0.0)


def _load_shape(region: str, local_hour: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Deterministic load multiplier (no noise) per hour; weekday is 0=Mon .. 6=Sun."""
    a = _LOAD_AMPLITUDE[region]
    profile = 1.0 + a * (_LOAD_PROFILE[local_hour] - 1.0)
    cut = np.zeros(local_hour.shape)
    for wd, c in _WEEKEND_CUT.items():
        cut = np.where(weekday == wd, c, cut)
    shape: np.ndarray = profile * (1.0 - cut * (0.4 + 0.6 * _DAYTIME[local_hour]))
    return shape


def _load_base(region: str) -> float:
    """Scale so that the long-run mean of base × shape is the subsystem's mean load."""
    hours = np.tile(np.arange(24), 7)
    days = np.repeat(np.arange(7), 24)
    return LOAD_MEAN_MW[region] / float(_load_shape(region, hours, days).mean())


@dataclass(frozen=True)
class SampleData:
    """Hourly sample series in canonical form (see the module docstring)."""

    start: dt.date
    days: int
    seed: int
    plants: pl.DataFrame
    generation: pl.DataFrame
    consumption: pl.DataFrame
    transmission: pl.DataFrame

    @property
    def hours(self) -> int:
        return self.consumption.filter(pl.col("region") == "sin").height


def default_start(days: int, today: dt.date | None = None) -> dt.date:
    """``days`` days ending with yesterday (Brasília): in the past, inside retention, and
    recent enough that "ontem"/"yesterday" and "last 7 days" have data."""
    today = today or dt.datetime.now(LOCAL).date()
    return today - dt.timedelta(days=days)


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """``n`` steps of a stationary AR(1) with unit variance, vectorized.

    Built as white noise convolved with the truncated kernel ``phi**k`` (the AR(1)
    impulse response), cut where it falls below 1e-4, with as many burn-in samples.
    """
    k = max(1, int(np.ceil(np.log(1e-4) / np.log(phi))))
    kernel = phi ** np.arange(k)
    kernel /= np.sqrt(np.sum(kernel**2))
    eps = rng.standard_normal(n + k - 1)
    return np.convolve(eps, kernel, mode="valid")


def plants_frame() -> pl.DataFrame:
    """Plant metadata: canonical tags plus the ONS columns that describe the plant."""
    ids: list[str | None] = []
    cegs: list[str | None] = []
    seen: set[str] = set()
    for i, p in enumerate(PLANTS):
        if p.mmgd:
            ids.append(None)
            cegs.append(None)
            continue
        letters = "".join(c for c in p.slug.upper() if c.isalpha())
        k = 2
        while True:
            ident = f"{p.state}{_ID_KIND[p.source]}{letters[:2]}{letters[k % len(letters)]}"
            if ident not in seen:
                break
            k += 1
        seen.add(ident)
        ids.append(ident)
        num = 1000 + 37 * i
        cegs.append(f"{_CEG_KIND[p.source]}.{_CEG_FUEL[p.fuel]}.{p.state}.{num:06d}-{num % 10}.01")
    return pl.DataFrame(
        {
            "plant": [p.slug for p in PLANTS],
            "name": [p.name for p in PLANTS],
            "region": [p.region for p in PLANTS],
            "source": [p.source for p in PLANTS],
            "state": [p.state.lower() if p.state else None for p in PLANTS],
            "plant_id": [catalog.published_id(i) if i else None for i in ids],
            "plant_name": [catalog.display_name(p.name) for p in PLANTS],
            "capacity_mw": [p.capacity_mw for p in PLANTS],
            "id_estado": [p.state for p in PLANTS],
            "nom_estado": [STATES[p.state] if p.state else None for p in PLANTS],
            "cod_modalidadeoperacao": [p.modality for p in PLANTS],
            "nom_tipousina": [ONS_TIPO[p.source] for p in PLANTS],
            "nom_tipocombustivel": [p.fuel for p in PLANTS],
            "id_ons": ids,
            "ceg": cegs,
        },
        schema_overrides={"state": pl.Utf8, "plant_id": pl.Utf8, "plant_name": pl.Utf8,
                          "id_estado": pl.Utf8,
                          "nom_estado": pl.Utf8, "id_ons": pl.Utf8, "ceg": pl.Utf8},
    )


def _time_grid(start: dt.date, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """UTC hour starts from local midnight of ``start`` for ``days`` local days.

    Returns (utc ns int64, local hour, local weekday 0=Mon, local day index).
    """
    t0 = dt.datetime.combine(start, dt.time(0), tzinfo=LOCAL).astimezone(UTC)
    t1 = dt.datetime.combine(start + dt.timedelta(days=days), dt.time(0), tzinfo=LOCAL)
    n = int((t1.astimezone(UTC) - t0).total_seconds() // 3600)
    ns0 = int(t0.timestamp()) * 1_000_000_000
    utc_ns = ns0 + np.arange(n, dtype=np.int64) * 3_600_000_000_000
    local = pl.Series("t", utc_ns).cast(TIME_DTYPE).dt.convert_time_zone(catalog.TIMEZONE)
    hour = local.dt.hour().to_numpy().astype(np.int64)
    weekday = local.dt.weekday().to_numpy().astype(np.int64) - 1  # polars: 1=Mon..7=Sun
    day = (local.dt.date().cast(pl.Int32) - (start - dt.date(1970, 1, 1)).days).to_numpy()
    return utc_ns, hour, weekday, day.astype(np.int64)


def generate(*, days: int, start: dt.date | None = None, seed: int = 7) -> SampleData:
    """Build ``days`` days of hourly sample series starting at local midnight of ``start``."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    start = start or default_start(days)
    rng = np.random.default_rng(seed)
    utc_ns, hour, weekday, day = _time_grid(start, days)
    n = len(utc_ns)
    ndays = int(day.max()) + 1

    # ---- load per subsystem
    load: dict[str, np.ndarray] = {}
    for r in SUBSYSTEMS:
        weather = np.clip(0.02 * _ar1(rng, ndays, 0.7), -0.04, 0.04)[day]
        noise = np.clip(rng.normal(0.0, 0.006, n), -0.015, 0.015)
        load[r] = _load_base(r) * _load_shape(r, hour, weekday) * (1 + weather) * (1 + noise)

    # ---- capacity factors of the non-dispatched plants
    hc = hour + 0.5
    sun = np.where((hc > 6) & (hc < 18), np.sin(np.pi * (hc - 6) / 12).clip(0, 1), 0.0) ** 1.3
    clouds = {r: rng.uniform(0.55, 1.0, ndays)[day] for r in SUBSYSTEMS}
    wind_weather = {r: _ar1(rng, n, 0.97) for r in ("northeast", "south")}
    nplants = len(PLANTS)
    cap = np.array([p.capacity_mw for p in PLANTS])
    power = np.zeros((n, nplants))
    for j, p in enumerate(PLANTS):
        if p.source == "solar":
            peak = 0.72 if p.mmgd else 0.85
            jitter = np.clip(rng.normal(1.0, 0.03, n), 0.9, 1.1)
            cf = peak * sun * clouds[p.region] * jitter
        elif p.source == "wind":
            plant_noise = 0.05 * _ar1(rng, n, 0.8)
            if p.region == "northeast":  # night-time maximum, around 01–02h local
                diurnal = 0.14 * np.cos(2 * np.pi * (hc - 1.5) / 24)
                cf = 0.44 + diurnal + 0.12 * wind_weather[p.region] + plant_noise
            else:
                diurnal = 0.04 * np.cos(2 * np.pi * (hc - 3) / 24)
                cf = 0.30 + diurnal + 0.15 * wind_weather[p.region] + plant_noise
            cf = np.clip(cf, 0.01, 0.93)
        elif p.source == "nuclear":
            cf = np.clip(rng.normal(0.955, 0.004, n), 0.93, 0.975)
        elif p.source == "thermal":
            rel = load[p.region] / LOAD_MEAN_MW[p.region] - 1.0
            cf = np.clip(p.weight * (1 + 0.3 * rel) + rng.normal(0.0, 0.01, n), 0.0, 1.0)
        else:
            continue
        power[:, j] = cf * p.capacity_mw

    def region_sum(region: str, *, exclude: str | None = None) -> np.ndarray:
        cols = [j for j, p in enumerate(PLANTS) if p.region == region and p.source != exclude]
        total: np.ndarray = power[:, cols].sum(axis=1)
        return total

    hydro_cap = {r: sum(p.capacity_mw for p in PLANTS if p.region == r and p.source == "hydro")
                 for r in SUBSYSTEMS}

    # ---- hydro: NE and S follow their own load; N and SE balance
    hydro_need: dict[str, np.ndarray] = {}
    for r, level, k in (("northeast", 0.40, 2.0), ("south", 0.70, 1.5)):
        rel = load[r] / LOAD_MEAN_MW[r]
        hydro_need[r] = hydro_cap[r] * np.clip(level * rel**k, 0.15, 0.95)
    n_se = 4_500 + 800 * np.sin(2 * np.pi * (hc - 14) / 24) + 400 * _ar1(rng, n, 0.95)
    n_ne = 1_800 + 300 * _ar1(rng, n, 0.95)
    hydro_need["north"] = load["north"] + n_se + n_ne - region_sum("north", exclude="hydro")
    ne_net = region_sum("northeast", exclude="hydro") + hydro_need["northeast"] - load["northeast"]
    ne_se = ne_net + n_ne
    s_se = region_sum("south", exclude="hydro") + hydro_need["south"] - load["south"]
    hydro_need["southeast"] = (load["southeast"] - n_se - ne_se - s_se
                               - region_sum("southeast", exclude="hydro"))
    for r in SUBSYSTEMS:
        cols = [j for j, p in enumerate(PLANTS) if p.region == r and p.source == "hydro"]
        w = np.array([PLANTS[j].weight * cap[j] for j in cols])
        share = w / w.sum()
        jitter = np.clip(rng.normal(1.0, 0.015, (n, len(cols))), 0.95, 1.05)
        dispatch = hydro_need[r][:, None] * share[None, :] * jitter
        power[:, cols] = np.clip(dispatch, 0.05 * cap[cols], cap[cols])

    power = np.round(power, 3)

    # ---- frames
    time = pl.Series("time", utc_ns).cast(TIME_DTYPE)
    plants = plants_frame()
    meta = plants.select("region", "source", "plant", "state", "plant_id", "plant_name")
    generation = pl.DataFrame({
        "time": time.gather(np.repeat(np.arange(n), nplants)),
        "_j": np.tile(np.arange(nplants), n),
        "power_mw": power.ravel(),
        "capacity_factor": np.round(np.clip(power / cap[None, :], 0.0, 1.0), 5).ravel(),
    })
    generation = pl.concat(
        [generation.select("time"), meta.gather(generation["_j"]),
         generation.select("power_mw", "capacity_factor")],
        how="horizontal",
    )

    regions = [*SUBSYSTEMS, "sin"]
    demand = [np.round(load[r], 3) for r in SUBSYSTEMS]
    demand.append(np.round(np.sum(demand, axis=0), 3))
    consumption = pl.DataFrame({
        "time": time.gather(np.repeat(np.arange(n), len(regions))),
        "region": np.tile(np.array(regions), n),
        "demand_mw": np.stack(demand, axis=1).ravel(),
    }).with_columns(consumption_mwh=pl.col("demand_mw"))  # one hour at that average power

    pairs = [("north", "southeast", n_se), ("north", "northeast", n_ne),
             ("northeast", "southeast", ne_se), ("south", "southeast", s_se)]
    flows = np.round(np.stack([f for _, _, f in pairs], axis=1), 3)
    # losses: a few percent of the flow (more on the long N→SE HVDC), at least 5 MWh
    loss_rate = np.array([0.035, 0.02, 0.025, 0.015])
    losses = np.round(np.abs(flows) * loss_rate[None, :] * rng.uniform(0.8, 1.2, flows.shape)
                      + 5.0, 3)
    idx = np.tile(np.arange(len(pairs)), n)
    transmission = pl.DataFrame({
        "time": time.gather(np.repeat(np.arange(n), len(pairs))),
        "line": np.array([f"{a}_{b}" for a, b, _ in pairs])[idx],
        "from_region": np.array([a for a, _, _ in pairs])[idx],
        "to_region": np.array([b for _, b, _ in pairs])[idx],
        "flow_mw": flows.ravel(),
        "losses_mwh": losses.ravel(),
    })
    return SampleData(start=start, days=days, seed=seed, plants=plants, generation=generation,
                      consumption=consumption, transmission=transmission)


# ---------------------------------------------------------------------------- writing

def _write_parquet(df: pl.DataFrame, path: Path) -> Path:
    """Parquet via pyarrow: plain ``string`` columns, timestamps as ns with tz UTC."""
    table = df.to_arrow()
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            t = pa.string()
        fields.append(pa.field(f.name, t))
    table = table.cast(pa.schema(fields))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path


def _write_csv(df: pl.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_csv(path, separator=";", float_precision=3, null_value="")
    return path


def _local(col: str = "time") -> pl.Expr:
    return pl.col(col).dt.convert_time_zone(catalog.TIMEZONE).dt.replace_time_zone(None)


def _din_instante(col: str = "time") -> pl.Expr:
    return _local(col).dt.strftime("%Y-%m-%d %H:%M:%S").alias("din_instante")


def _ons_generation(sample: SampleData) -> pl.DataFrame:
    p = sample.plants.with_row_index("_j")
    # padded names: some plants always, some others on odd local days only
    always = pl.col("_j") % 7 == 3
    sometimes = (pl.col("_j") % 5 == 1) & (_local().dt.day() % 2 == 1)
    df = (
        sample.generation.join(p.select("plant", "_j", "name", *ONS_GENERATION_COLUMNS[3:8],
                                        "id_ons", "ceg"),
                               on="plant", how="left", maintain_order="left")
        .with_columns(
            _din_instante(),
            _local().alias("_local"),
            pl.col("region").replace_strict(ONS_ID, return_dtype=pl.Utf8).alias("id_subsistema"),
            pl.col("region").replace_strict(ONS_NAME, return_dtype=pl.Utf8)
            .alias("nom_subsistema"),
            pl.when(always).then(pl.col("name") + "   ")
            .when(sometimes).then(pl.col("name") + " ")
            .otherwise(pl.col("name")).alias("nom_usina"),
            pl.col("power_mw").alias("val_geracao"),
        )
    )
    return df.select(*ONS_GENERATION_COLUMNS, "_local")


def _write_ons(sample: SampleData, out: Path) -> list[Path]:
    paths: list[Path] = []
    gen = _ons_generation(sample)
    months = gen.select(y=pl.col("_local").dt.year(), m=pl.col("_local").dt.month()).unique(
        maintain_order=True)
    keys = list(months.iter_rows())
    for i, (y, m) in enumerate(keys):
        part = gen.filter((pl.col("_local").dt.year() == y) & (pl.col("_local").dt.month() == m))
        name = f"GERACAO_USINA-2_{y:04d}_{m:02d}"
        if len(keys) == 1:
            # one month only: its second half goes to a part file with string values
            times = part["_local"].unique().sort()
            cut = times[len(times) // 2]
            first = part.filter(pl.col("_local") < cut).drop("_local")
            second = part.filter(pl.col("_local") >= cut).drop("_local")
            paths.append(_write_parquet(first, out / f"{name}.parquet"))
            paths.append(_write_parquet(_as_strings(second), out / f"{name}_2.parquet"))
            continue
        part = part.drop("_local")
        if i == 1:
            part = _as_strings(part)
        paths.append(_write_parquet(part, out / f"{name}.parquet"))

    load = (
        sample.consumption.filter(pl.col("region") != "sin")
        .with_columns(
            _din_instante(),
            _local().dt.year().alias("_year"),
            pl.col("region").replace_strict(ONS_ID, return_dtype=pl.Utf8).alias("id_subsistema"),
            pl.col("region").replace_strict(ONS_NAME, return_dtype=pl.Utf8)
            .alias("nom_subsistema"),
            pl.col("demand_mw").alias("val_cargaenergiahomwmed"),
        )
    )
    for (year,), part in load.group_by("_year", maintain_order=True):
        paths.append(_write_csv(part.select(ONS_LOAD_COLUMNS),
                                out / f"CARGA_ENERGIA_{year:04d}.csv"))

    inter = (
        sample.transmission.with_columns(
            _din_instante(),
            _local().dt.year().alias("_year"),
            pl.col("from_region").replace_strict(ONS_ID, return_dtype=pl.Utf8)
            .alias("id_subsistema_origem"),
            pl.col("from_region").replace_strict(ONS_NAME, return_dtype=pl.Utf8)
            .alias("nom_subsistema_origem"),
            pl.col("to_region").replace_strict(ONS_ID, return_dtype=pl.Utf8)
            .alias("id_subsistema_destino"),
            pl.col("to_region").replace_strict(ONS_NAME, return_dtype=pl.Utf8)
            .alias("nom_subsistema_destino"),
            pl.col("flow_mw").alias("val_intercambiomwmed"),
        )
    )
    for (year,), part in inter.group_by("_year", maintain_order=True):
        paths.append(_write_csv(part.select(ONS_INTERCHANGE_COLUMNS),
                                out / f"INTERCAMBIO_NACIONAL_{year:04d}.csv"))
    return paths


def _as_strings(df: pl.DataFrame) -> pl.DataFrame:
    """The quirk: ``val_geracao`` stored as text, three decimals, dot separator."""
    return df.with_columns(
        pl.col("val_geracao").map_batches(
            lambda s: pl.Series(np.char.mod("%.3f", s.to_numpy())), return_dtype=pl.Utf8
        )
    )


def processed_frame(sample: SampleData) -> pl.DataFrame:
    """All series in the processed long format (one frame, not split by month)."""
    null = pl.lit(None, dtype=pl.Utf8)

    def long(df: pl.DataFrame, measurement: str, tags: dict[str, pl.Expr]) -> pl.DataFrame:
        spec = catalog.measurement(measurement)
        fields = [f for f in spec.fields if f in df.columns]
        frames = []
        for f in fields:
            frames.append(df.select(
                pl.col("time").alias("timestamp"),
                tags["region"].alias("region"),
                tags["energy_source"].alias("energy_source"),
                pl.lit(f).alias("measurement_type"),
                pl.col(f).cast(pl.Float64).alias("value"),
                pl.lit(spec.fields[f].unit).alias("unit"),
                *(tags[c].alias(c) for c in PROCESSED_COLUMNS[6:]),
            ))
        return pl.concat(frames)

    base = dict.fromkeys(PROCESSED_COLUMNS[6:], null) | {"region": null, "energy_source": null}
    gen = long(sample.generation, "generation_data", base | {
        "region": pl.col("region"), "energy_source": pl.col("source"), "plant": pl.col("plant"),
        "state": pl.col("state"), "plant_id": pl.col("plant_id"),
        "plant_name": pl.col("plant_name")})
    con = long(sample.consumption, "consumption_data", base | {"region": pl.col("region")})
    tra = long(sample.transmission, "transmission_data", base | {
        "line": pl.col("line"), "from_region": pl.col("from_region"),
        "to_region": pl.col("to_region")})
    return pl.concat([gen, con, tra]).sort("timestamp", maintain_order=True)


def _write_processed(sample: SampleData, out: Path) -> list[Path]:
    df = processed_frame(sample).with_columns(
        _y=pl.col("timestamp").dt.year(), _m=pl.col("timestamp").dt.month())
    paths = []
    for (y, m), part in df.group_by("_y", "_m", maintain_order=True):
        paths.append(_write_parquet(part.drop("_y", "_m"),
                                    out / f"processed_{y:04d}_{m:02d}.parquet"))
    return paths


def _write_wide(sample: SampleData, out: Path) -> list[Path]:
    return [
        _write_parquet(sample.generation, out / "generation_data.parquet"),
        _write_parquet(sample.consumption, out / "consumption_data.parquet"),
        _write_parquet(sample.transmission, out / "transmission_data.parquet"),
    ]


def write(sample: SampleData, out: Path, fmt: Format) -> list[Path]:
    """Write ``sample`` under ``out`` in format ``fmt``; return the paths written."""
    from .exceptions import ConfigError

    out = Path(out)
    blocker = next((p for p in (out, *out.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ConfigError(f"--out {out}: {blocker} is a file, not a folder")
    if fmt == "ons":
        return _write_ons(sample, out)
    if fmt == "processed":
        return _write_processed(sample, out)
    if fmt == "wide":
        return _write_wide(sample, out)
    raise ValueError(f"unknown sample format {fmt!r}; expected ons, processed or wide")
