"""onsflux.sample: deterministic, realistic ONS-shaped sample data and its file formats."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from onsflux import catalog, sample

LOCAL = ZoneInfo("America/Sao_Paulo")
START = dt.date(2024, 5, 10)  # 30 days from here span May and June
DAYS = 30

# the ONS open-data column names, exactly as DESIGN.md lists them
ONS_GEN_COLS = [
    "din_instante", "id_subsistema", "nom_subsistema", "id_estado", "nom_estado",
    "cod_modalidadeoperacao", "nom_tipousina", "nom_tipocombustivel", "nom_usina",
    "id_ons", "ceg", "val_geracao",
]
ONS_LOAD_COLS = ["id_subsistema", "nom_subsistema", "din_instante", "val_cargaenergiahomwmed"]
ONS_INTER_COLS = [
    "din_instante", "id_subsistema_origem", "nom_subsistema_origem", "id_subsistema_destino",
    "nom_subsistema_destino", "val_intercambiomwmed",
]
ONS_TYPES = {"HIDROELÉTRICA", "TÉRMICA", "EOLIELÉTRICA", "FOTOVOLTAICA", "NUCLEAR"}
ONS_NAMES = {"N": "NORTE", "NE": "NORDESTE", "SE": "SUDESTE", "S": "SUL"}


@pytest.fixture(scope="module")
def data() -> sample.SampleData:
    return sample.generate(days=DAYS, start=START, seed=7)


@pytest.fixture(scope="module")
def out(data: sample.SampleData, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("sample")
    return {fmt: sample.write(data, root / fmt, fmt) for fmt in ("ons", "processed", "wide")}


def _local(df: pl.DataFrame, col: str = "time") -> pl.DataFrame:
    loc = pl.col(col).dt.convert_time_zone("America/Sao_Paulo")
    return df.with_columns(hour=loc.dt.hour(), weekday=loc.dt.weekday())


def _load(data: sample.SampleData) -> pl.DataFrame:
    return data.consumption.pivot(on="region", index="time", values="demand_mw").sort("time")


# ------------------------------------------------------------------ determinism, sizes

def _bytes(paths: list[Path]) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in paths}


@pytest.mark.parametrize("fmt", ["ons", "processed", "wide"])
def test_same_seed_and_start_give_identical_bytes(tmp_path: Path, fmt: sample.Format) -> None:
    a = sample.write(sample.generate(days=10, start=dt.date(2024, 1, 25), seed=3), tmp_path / "a",
                     fmt)
    b = sample.write(sample.generate(days=10, start=dt.date(2024, 1, 25), seed=3), tmp_path / "b",
                     fmt)
    assert [p.name for p in a] == [p.name for p in b]
    assert _bytes(a) == _bytes(b)


def test_different_seed_gives_different_data(tmp_path: Path) -> None:
    a = sample.generate(days=5, start=dt.date(2024, 1, 25), seed=3)
    b = sample.generate(days=5, start=dt.date(2024, 1, 25), seed=4)
    assert not a.generation.equals(b.generation)
    assert not a.consumption.equals(b.consumption)
    assert not a.transmission.equals(b.transmission)
    pa_ = sample.write(a, tmp_path / "a", "ons")
    pb = sample.write(b, tmp_path / "b", "ons")
    assert all(x.read_bytes() != y.read_bytes() for x, y in zip(pa_, pb, strict=True))


def test_default_start_lies_in_the_past_inside_retention() -> None:
    assert sample.default_start(30, today=dt.date(2024, 6, 15)) == dt.date(2024, 5, 16)
    d = sample.generate(days=3)
    today = dt.datetime.now(LOCAL).date()
    assert d.start == today - dt.timedelta(days=3)
    times = d.consumption["time"]
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(today, dt.time(), LOCAL)
    assert times.max() < now and times.max() < midnight  # yesterday is the last day
    assert times.max() >= midnight - dt.timedelta(hours=1)
    assert times.min() > now - dt.timedelta(days=7 * 365)


def test_sizes(data: sample.SampleData) -> None:
    n = DAYS * 24
    assert data.hours == n
    assert 40 <= len(sample.PLANTS) <= 80
    assert data.generation.height == n * len(sample.PLANTS)
    assert data.consumption.height == n * 5  # four subsystems + SIN
    assert data.transmission.height == n * 4
    first = data.consumption["time"].min()
    assert first == dt.datetime(2024, 5, 10, 3, tzinfo=dt.UTC)  # local midnight, UTC-3
    assert data.generation["time"].dtype == pl.Datetime("ns", "UTC")


def test_bad_arguments(data: sample.SampleData, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        sample.generate(days=0, start=START)
    with pytest.raises(ValueError):
        sample.write(data, tmp_path, "csv")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ realism

def test_sin_range_and_sum(data: sample.SampleData) -> None:
    load = _load(data)
    total = load.select(pl.sum_horizontal("north", "northeast", "southeast", "south")).to_series()
    assert np.allclose(total.to_numpy(), load["sin"].to_numpy(), atol=0.01)
    assert load["sin"].min() > 60_000
    assert load["sin"].max() < 106_000
    assert 75_000 < load["sin"].mean() < 87_000


@pytest.mark.parametrize(("region", "mean_mw"), [
    ("southeast", 44_000), ("northeast", 14_000), ("north", 10_000), ("south", 13_000),
])
def test_subsystem_load_means(data: sample.SampleData, region: str, mean_mw: float) -> None:
    got = _load(data)[region].mean()
    assert abs(got - mean_mw) / mean_mw < 0.15


def test_daily_load_shape_in_local_time(data: sample.SampleData) -> None:
    by_hour = (_local(_load(data)).group_by("hour").agg(pl.col("sin").mean()).sort("hour"))
    hours, values = by_hour["hour"].to_list(), by_hour["sin"].to_numpy()
    assert hours[int(np.argmin(values))] in (3, 4, 5)
    assert hours[int(np.argmax(values))] in (18, 19, 20, 21)
    assert values.max() / values.min() > 1.2


def test_weekends_are_lower(data: sample.SampleData) -> None:
    d = _local(_load(data))
    weekend = d.filter(pl.col("weekday") >= 6)["sin"].mean()
    weekday = d.filter(pl.col("weekday") <= 5)["sin"].mean()
    assert 0.80 < weekend / weekday < 0.93


def test_solar_zero_at_night_and_bell_shaped(data: sample.SampleData) -> None:
    solar = _local(data.generation.filter(pl.col("source") == "solar"))
    night = solar.filter((pl.col("hour") >= 19) | (pl.col("hour") <= 4))
    assert night.height > 0 and (night["power_mw"] == 0).all()
    by_hour = solar.group_by("hour").agg(pl.col("power_mw").sum()).sort("hour")
    noon = by_hour.filter(pl.col("hour").is_in([11, 12]))["power_mw"].mean()
    morning = by_hour.filter(pl.col("hour") == 7)["power_mw"].item()
    assert noon > 3 * morning > 0


def test_northeast_wind_is_stronger_at_night(data: sample.SampleData) -> None:
    wind = _local(data.generation.filter(
        (pl.col("source") == "wind") & (pl.col("region") == "northeast")))
    night = wind.filter(pl.col("hour") <= 4)["capacity_factor"].mean()
    day = wind.filter(pl.col("hour").is_between(11, 16))["capacity_factor"].mean()
    assert night > day + 0.1


def test_plant_limits_and_capacity_factor(data: sample.SampleData) -> None:
    g = data.generation.join(data.plants.select("plant", "capacity_mw"), on="plant")
    itaipu = g.filter(pl.col("plant") == "itaipu")["power_mw"]
    assert itaipu.max() <= 14_000 and itaipu.mean() > 8_000
    assert (g["power_mw"] >= 0).all()
    assert (g["power_mw"] <= g["capacity_mw"]).all()
    assert g["capacity_factor"].is_between(0, 1).all()
    cf = (g["power_mw"] / g["capacity_mw"]).to_numpy()
    assert np.allclose(cf, g["capacity_factor"].to_numpy(), atol=1e-4)


def test_nuclear_is_flat_near_capacity(data: sample.SampleData) -> None:
    nuc = data.generation.filter(pl.col("source") == "nuclear")
    assert set(nuc["plant"].unique()) == {"angra_1", "angra_2"}
    assert nuc["capacity_factor"].min() > 0.9
    assert nuc["capacity_factor"].std() < 0.02


def test_hydro_follows_load(data: sample.SampleData) -> None:
    hydro = (data.generation.filter(pl.col("source") == "hydro")
             .group_by("time").agg(pl.col("power_mw").sum()))
    d = hydro.join(_load(data).select("time", "sin"), on="time")
    assert np.corrcoef(d["power_mw"].to_numpy(), d["sin"].to_numpy())[0, 1] > 0.5


def test_generation_roughly_matches_load(data: sample.SampleData) -> None:
    gen = data.generation.group_by("time").agg(pl.col("power_mw").sum())
    d = gen.join(_load(data).select("time", "sin"), on="time")
    rel = ((d["power_mw"] - d["sin"]) / d["sin"]).abs()
    assert rel.mean() < 0.03
    assert rel.max() < 0.12


def test_interchange(data: sample.SampleData) -> None:
    t = data.transmission
    pairs = set(t.select("from_region", "to_region").unique().iter_rows())
    assert {("north", "southeast"), ("northeast", "southeast"), ("south", "southeast"),
            ("north", "northeast")} == pairs
    assert (t["losses_mwh"] > 0).all()
    assert t["losses_mwh"].max() < 1_000
    assert t["flow_mw"].abs().max() < 15_000
    assert (t["flow_mw"] < 0).any() and (t["flow_mw"] > 0).any()  # signed
    by_line = t.group_by("line").agg(pl.col("flow_mw").std().alias("sd"),
                                     pl.col("flow_mw").abs().mean().alias("m"))
    assert (by_line["sd"] > 100).all()
    assert by_line["m"].max() > 2_000


def test_plants_are_real_and_well_placed(data: sample.SampleData) -> None:
    p = data.plants
    names = set(p["name"])
    for name in ("Itaipu", "Tucuruí", "Belo Monte", "Jirau", "Santo Antônio", "Ilha Solteira",
                 "Xingó", "Paulo Afonso IV", "Sobradinho", "Furnas", "Angra 1", "Angra 2"):
        assert name in names
    cap = dict(zip(p["plant"], p["capacity_mw"], strict=True))
    assert cap["itaipu"] == 14_000 and cap["tucurui"] == 8_370 and cap["belo_monte"] == 11_233
    assert cap["angra_1"] == 640 and cap["angra_2"] == 1_350
    row = p.filter(pl.col("plant") == "itaipu").row(0, named=True)
    assert (row["region"], row["state"]) == ("southeast", "pr")
    assert p["plant"].to_list() == [catalog.slug(n) for n in p["name"]]
    assert p["plant"].n_unique() == p.height
    assert p.filter(pl.col("id_ons").is_not_null())["id_ons"].n_unique() == \
        p["id_ons"].drop_nulls().len()
    wind_states = set(p.filter((pl.col("source") == "wind") & (pl.col("region") == "northeast"))
                      ["id_estado"])
    assert {"BA", "RN", "CE", "PI"} <= wind_states
    assert "RS" in set(p.filter((pl.col("source") == "wind") & (pl.col("region") == "south"))
                       ["id_estado"])
    assert {"MG", "BA", "PI"} <= set(p.filter(pl.col("source") == "solar")["id_estado"]
                                     .drop_nulls())
    assert set(p["source"]) == {"hydro", "thermal", "wind", "solar", "nuclear"}
    for col, vocab in (("region", catalog.REGIONS), ("source", catalog.SOURCES)):
        assert set(data.generation[col].unique()) <= set(vocab)


# ----------------------------------------------------------------------------- ONS files

def _names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_ons_file_names(out: dict[str, list[Path]]) -> None:
    assert _names(out["ons"]) == [
        "GERACAO_USINA-2_2024_05.parquet", "GERACAO_USINA-2_2024_06.parquet",
        "CARGA_ENERGIA_2024.csv", "INTERCAMBIO_NACIONAL_2024.csv",
    ]


def _ons_generation(out: dict[str, list[Path]]) -> pl.DataFrame:
    frames = [pl.read_parquet(p).with_columns(pl.col("val_geracao").cast(pl.Float64))
              for p in out["ons"] if p.name.startswith("GERACAO")]
    return pl.concat(frames)


def test_ons_generation_columns_and_values(out: dict[str, list[Path]],
                                           data: sample.SampleData) -> None:
    gen_files = [p for p in out["ons"] if p.name.startswith("GERACAO")]
    for p in gen_files:
        assert pq.read_schema(p).names == ONS_GEN_COLS
        month = p.name.removesuffix(".parquet")[-2:]
        assert (pl.read_parquet(p)["din_instante"].str.slice(5, 2) == month).all()
    g = _ons_generation(out)
    assert g.height == data.generation.height
    assert set(g["nom_tipousina"]) == ONS_TYPES
    assert "EOLIELÉTRICA" in set(g["nom_tipousina"])
    assert set(g["id_subsistema"]) == set(ONS_NAMES)
    assert set(g.select("id_subsistema", "nom_subsistema").unique().iter_rows()) == \
        set(ONS_NAMES.items())
    assert {"TIPO I", "TIPO II-B", "Pequenas Usinas"} <= set(g["cod_modalidadeoperacao"])
    assert {"Tucuruí", "Xingó", "Santo Antônio"} <= set(g["nom_usina"].str.strip_chars())
    assert np.isclose(g["val_geracao"].sum(), data.generation["power_mw"].sum(), rtol=1e-9)


def test_ons_mmgd_rows_have_no_ids(out: dict[str, list[Path]]) -> None:
    g = _ons_generation(out)
    mmgd = g.filter(pl.col("nom_usina").str.starts_with("MMGD"))
    assert set(mmgd["id_subsistema"]) == {"N", "NE", "SE", "S"}
    assert mmgd["id_ons"].null_count() == mmgd.height
    assert mmgd["ceg"].null_count() == mmgd.height
    assert set(mmgd["nom_tipousina"]) == {"FOTOVOLTAICA"}
    assert g.filter(pl.col("id_ons").is_null()).height == mmgd.height  # only MMGD lacks ids


def test_ons_quirks_padding_and_string_values(out: dict[str, list[Path]]) -> None:
    g = _ons_generation(out)
    padded = g.filter(pl.col("nom_usina") != pl.col("nom_usina").str.strip_chars_end())
    assert 0 < padded.height < g.height
    # the same plant appears both padded and not (padding on some days only)
    both = (g.group_by(pl.col("nom_usina").str.strip_chars().alias("n"))
            .agg(pl.col("nom_usina").n_unique().alias("k")).filter(pl.col("k") > 1))
    assert both.height > 0
    string_files = [p for p in out["ons"] if p.suffix == ".parquet"
                    and pq.read_schema(p).field("val_geracao").type == pa.string()]
    float_files = [p for p in out["ons"] if p.suffix == ".parquet"
                   and pq.read_schema(p).field("val_geracao").type == pa.float64()]
    assert len(string_files) == 1 and len(float_files) == 1
    values = pl.read_parquet(string_files[0])["val_geracao"]
    assert values.str.contains(r"^-?\d+\.\d{3}$").all()


def test_ons_single_month_gets_a_string_part_file(tmp_path: Path) -> None:
    d = sample.generate(days=6, start=dt.date(2024, 5, 1))
    paths = sample.write(d, tmp_path, "ons")
    gen = [p for p in paths if p.name.startswith("GERACAO")]
    assert _names(gen) == ["GERACAO_USINA-2_2024_05.parquet", "GERACAO_USINA-2_2024_05_2.parquet"]
    a, b = (pl.read_parquet(p) for p in gen)
    assert a["val_geracao"].dtype == pl.Float64 and b["val_geracao"].dtype == pl.Utf8
    assert a.height + b.height == d.generation.height
    assert a["din_instante"].max() < b["din_instante"].min()


def test_ons_csvs(out: dict[str, list[Path]], data: sample.SampleData) -> None:
    load_csv, inter_csv = (p for p in out["ons"] if p.suffix == ".csv")
    for path, cols in ((load_csv, ONS_LOAD_COLS), (inter_csv, ONS_INTER_COLS)):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == ";".join(cols)
        assert all(line.count(";") == len(cols) - 1 for line in lines)
        assert "," not in path.read_text(encoding="utf-8")  # dot decimals
    load = pl.read_csv(load_csv, separator=";")
    assert load.height == DAYS * 24 * 4
    assert set(load["id_subsistema"]) == set(ONS_NAMES)  # no SIN row
    assert load["val_cargaenergiahomwmed"].dtype == pl.Float64
    inter = pl.read_csv(inter_csv, separator=";")
    assert inter.height == DAYS * 24 * 4
    assert set(inter["nom_subsistema_destino"]) <= set(ONS_NAMES.values())
    assert inter["val_intercambiomwmed"].dtype == pl.Float64


def _expected_local(times: pl.Series) -> list[str]:
    return [t.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S") for t in times.to_list()]


def test_din_instante_is_brasilia_local_time(out: dict[str, list[Path]],
                                             data: sample.SampleData) -> None:
    load = pl.read_csv([p for p in out["ons"] if p.name.startswith("CARGA")][0], separator=";")
    expected = data.consumption.filter(pl.col("region") != "sin")
    assert load["din_instante"].to_list() == _expected_local(expected["time"])
    assert load["din_instante"][0] == "2024-05-10 00:00:00"
    g = _ons_generation(out)
    assert g["din_instante"].to_list() == _expected_local(data.generation["time"])


def test_din_instante_follows_daylight_saving(tmp_path: Path) -> None:
    # Brazil's last DST began 2018-11-04 00:00 local (clocks jumped to 01:00)
    d = sample.generate(days=7, start=dt.date(2018, 11, 1))
    assert d.hours == 7 * 24 - 1
    load = pl.read_csv(sample.write(d, tmp_path, "ons")[-2], separator=";")
    instants = set(load["din_instante"])
    assert "2018-11-04 00:00:00" not in instants
    assert {"2018-11-03 23:00:00", "2018-11-04 01:00:00"} <= instants
    assert load["din_instante"].to_list() == _expected_local(
        d.consumption.filter(pl.col("region") != "sin")["time"])


# ---------------------------------------------------------------------- processed, wide

PROCESSED_COLS = ["timestamp", "region", "energy_source", "measurement_type", "value", "unit",
                  "plant", "state", "plant_id", "plant_name", "sector", "line", "from_region", "to_region"]


def test_processed_format(out: dict[str, list[Path]], data: sample.SampleData) -> None:
    assert _names(out["processed"]) == ["processed_2024_05.parquet", "processed_2024_06.parquet"]
    for p in out["processed"]:
        schema = pq.read_schema(p)
        assert schema.names == PROCESSED_COLS
        assert schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
        assert schema.field("value").type == pa.float64()
    df = pl.concat([pl.read_parquet(p) for p in out["processed"]])
    assert df.height == (2 * data.generation.height + 2 * data.consumption.height
                         + 2 * data.transmission.height)
    for (mtype, unit), part in df.group_by("measurement_type", "unit"):
        spec = catalog.measurement_for_field(mtype).field(mtype)
        assert unit == spec.unit
        assert spec.in_range(part["value"].min()) and spec.in_range(part["value"].max())
        assert part["value"].null_count() == 0
    kind = pl.col("measurement_type").replace_strict(catalog.FIELD_TO_MEASUREMENT)
    df = df.with_columns(kind.alias("m"))
    gen = df.filter(pl.col("m") == "generation_data")
    assert set(gen["energy_source"]) <= set(catalog.SOURCES)
    assert gen["plant"].null_count() == 0
    assert set(gen["plant"]) == set(data.plants["plant"])
    other = df.filter(pl.col("m") != "generation_data")
    assert other["energy_source"].null_count() == other.height
    con = df.filter(pl.col("m") == "consumption_data")
    assert set(con["region"]) == set(catalog.REGIONS)  # includes sin
    tra = df.filter(pl.col("m") == "transmission_data")
    assert tra["line"].null_count() == 0
    assert set(tra["from_region"]) | set(tra["to_region"]) <= set(catalog.REGIONS)
    assert set(df["region"].drop_nulls()) <= set(catalog.REGIONS)
    # each file holds its UTC month
    for p in out["processed"]:
        months = pl.read_parquet(p)["timestamp"].dt.month().unique().to_list()
        assert months == [int(p.stem[-2:])]


def test_wide_format(out: dict[str, list[Path]], data: sample.SampleData) -> None:
    assert _names(out["wide"]) == ["generation_data.parquet", "consumption_data.parquet",
                                   "transmission_data.parquet"]
    for p in out["wide"]:
        spec = catalog.measurement(p.stem)
        schema = pq.read_schema(p)
        assert schema.field("time").type == pa.timestamp("ns", tz="UTC")
        cols = [c for c in schema.names if c != "time"]
        tags = [c for c in cols if schema.field(c).type == pa.string()]
        fields = [c for c in cols if c not in tags]
        assert set(tags) <= set(spec.tags) and set(spec.required_tags) <= set(tags)
        assert fields and set(fields) <= set(spec.fields)
        df = pl.read_parquet(p)
        for f in fields:
            fs = spec.field(f)
            assert fs.in_range(df[f].min()) and fs.in_range(df[f].max())
    wide_gen = pl.read_parquet(out["wide"][0])
    assert wide_gen.equals(data.generation)
