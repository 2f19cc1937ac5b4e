"""read_object on local files: every format, dialect quirk and failure, row accounting."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from onsflux.exceptions import SchemaError, SourceError
from onsflux.frames import REJECT_SCHEMA, Chunk
from onsflux.settings import Settings
from onsflux.sources import list_objects, read_object
from onsflux.sources.readers import rebatch

GEN_HEADER = ("din_instante;id_subsistema;nom_subsistema;id_estado;nom_estado;"
              "cod_modalidadeoperacao;nom_tipousina;nom_tipocombustivel;nom_usina;id_ons;ceg;"
              "val_geracao")
SP = ZoneInfo("America/Sao_Paulo")


def local_ns(text: str, fold: int = 0) -> int:
    dt = datetime.fromisoformat(text).replace(tzinfo=SP, fold=fold)
    return int(dt.astimezone(UTC).timestamp()) * 10**9


def read(path: Path, chunk_rows: int = 200_000, **kw: object) -> list[Chunk]:
    settings = Settings(chunk_rows=chunk_rows)
    [ref] = list_objects([str(path)], settings)
    return list(read_object(ref, settings, **kw))  # type: ignore[arg-type]


def kept(chunks: list[Chunk]) -> pl.DataFrame:
    frames = [c.frame for c in chunks if c.frame.height]
    return pl.concat(frames, how="diagonal") if frames else pl.DataFrame()


def rejects(chunks: list[Chunk]) -> pl.DataFrame:
    return pl.concat([c.rejects for c in chunks], how="vertical")


def assert_accounted(chunks: list[Chunk], rows_in_file: int) -> None:
    """Every data row is kept or rejected exactly once; _row numbers cover 1..N."""
    total_kept = sum(c.frame.height for c in chunks)
    total_rej = sum(c.rejects.height for c in chunks)
    assert total_kept + total_rej == rows_in_file
    assert sum(c.source_rows for c in chunks) == rows_in_file
    seen = kept(chunks)["_row"].to_list() if total_kept else []
    seen += rejects(chunks)["row"].to_list()
    assert sorted(seen) == list(range(1, rows_in_file + 1))
    for c in chunks:
        assert c.rejects.schema == pl.Schema(REJECT_SCHEMA)
        assert c.frame.schema["_row"] == pl.UInt64 and c.frame.schema["time"] == pl.Int64


def gen_row(when: str, sub: str, kind: str, plant: str, value: str, id_ons: str = "X1",
            state: str = "SP") -> str:
    return f"{when};{sub};NOME;{state};ESTADO;TIPO I;{kind};comb;{plant};{id_ons};CEG;{value}"


# --- ONS files --------------------------------------------------------------------------------

def test_ons_generation_csv_utf8_bom_decimal_comma_and_mmgd(tmp_path: Path) -> None:
    lines = [
        GEN_HEADER,
        gen_row("2024-01-01 00:00:00", "SE", "HIDROELÉTRICA", "  UHE Itaipu 50 Hz ", "14000,5"),
        gen_row("2024-01-01 00:00:00", " NE ", "EOLIELÉTRICA", "Conj. Eólico X", '"1.234,5"'),
        gen_row("2024-01-01 00:00:00", "S", "FOTOVOLTAICA", "MMGD Rio Grande do Sul", "12",
                id_ons="", state="RS"),
        gen_row("2024-01-01 00:00:00", "N", "TÉRMICA", "UTE Y", " 7.25 "),
        gen_row("2024-01-01 00:00:00", "SE", "NUCLEAR", "Angra 1", "640"),
    ]
    path = tmp_path / "geracao.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode("utf-8"))
    chunks = read(path)
    assert_accounted(chunks, 5)
    [c] = chunks
    assert c.measurement == "generation_data" and c.fields == ["power_mw"]
    assert c.tags == ["region", "source", "plant", "state", "plant_id", "plant_name"]
    f = c.frame
    assert f["region"].to_list() == ["southeast", "northeast", "south", "north", "southeast"]
    assert f["source"].to_list() == ["hydro", "wind", "solar", "thermal", "nuclear"]
    assert f["plant"][0] == "uhe_itaipu_50_hz" and f["plant"][1] == "conj_eolico_x"
    assert f["power_mw"].to_list() == [14000.5, 1234.5, 12.0, 7.25, 640.0]
    # issue 9 item 16: id_ons as published (not lower-cased); MMGD kept, no id_ons
    assert f["plant_id"].to_list() == ["X1", "X1", None, "X1", "X1"]
    # the display name, accents and case kept, padding trimmed
    assert f["plant_name"].to_list()[:2] == ["UHE Itaipu 50 Hz", "Conj. Eólico X"]
    assert f["state"][2] == "rs"
    assert f["time"].unique().to_list() == [local_ns("2024-01-01 00:00")]


def test_ons_generation_latin1(tmp_path: Path) -> None:
    text = GEN_HEADER + "\n" + gen_row("2024-01-01 01:00", "NE", "EOLIELÉTRICA",
                                       "Usina São João", "1,5") + "\n"
    path = tmp_path / "geracao_latin1.csv"
    path.write_bytes(text.encode("cp1252"))
    [c] = read(path)
    assert c.frame["source"].to_list() == ["wind"]
    assert c.frame["plant"].to_list() == ["usina_sao_joao"]
    assert c.frame["power_mw"].to_list() == [1.5]
    assert any("cp1252" in n for n in c.notes)


def test_ons_generation_rejects_are_precise(tmp_path: Path) -> None:
    lines = [
        GEN_HEADER,
        gen_row("2024-01-01 00:00", "SE", "HIDROELÉTRICA", "A", "1"),  # ok
        gen_row("not-a-date", "SE", "HIDROELÉTRICA", "A", "1"),
        gen_row("2024-01-01 00:00", "XX", "HIDROELÉTRICA", "A", "1"),
        gen_row("2024-01-01 00:00", "SE", "GEOTÉRMICA", "A", "1"),
        gen_row("2024-01-01 00:00", "SE", "HIDROELÉTRICA", "A", "n/d"),
        gen_row("2024-01-01 00:00", "SE", "HIDROELÉTRICA", "A", ""),
        gen_row("2017-10-15 00:00", "SE", "HIDROELÉTRICA", "A", "1"),  # DST gap
        "only;three;fields",
    ]
    path = tmp_path / "g.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks = read(path)
    assert_accounted(chunks, 8)
    r = rejects(chunks).sort("row")
    assert r["reason"].to_list() == [
        "unparseable timestamp", "unknown subsystem", "unknown plant type", "not a number",
        "missing value", "non-existent local time (DST gap)", "malformed CSV row",
    ]
    assert r["value"].to_list()[:4] == ["not-a-date", "XX", "GEOTÉRMICA", "n/d"]
    assert r["column"].to_list()[:3] == ["din_instante", "id_subsistema", "nom_tipousina"]
    assert r["row"].to_list() == [2, 3, 4, 5, 6, 7, 8]


def test_ons_generation_parquet_with_numbers_as_strings_and_padded_names(
    tmp_path: Path,
) -> None:
    cols = GEN_HEADER.split(";")
    data = {c: ["x", "x"] for c in cols}
    data.update({
        "din_instante": ["2024-01-01 00:00:00", "2024-01-01 01:00:00"],
        "id_subsistema": ["SE ", " S"], "nom_tipousina": ["EOLIELÉTRICA", "HIDROELÉTRICA"],
        "nom_usina": ["Eol A", "UHE B"], "id_ons": [None, "ID2"], "val_geracao": ["10,5", "20"],
        "id_estado": ["BA", "PR"],
    })
    table = pa.table({f"  {c.upper()} ": v for c, v in data.items()})
    path = tmp_path / "g.parquet"
    pq.write_table(table, path)
    [c] = read(path)
    assert c.frame["power_mw"].to_list() == [10.5, 20.0]
    assert c.frame["region"].to_list() == ["southeast", "south"]
    assert c.frame["plant_id"].to_list() == [None, "ID2"]


def test_ons_load_parquet_timestamp_type_across_fall_back(tmp_path: Path) -> None:
    # hourly SE load written as naive timestamps (local time), repeated 23:00 in 2018
    local = [datetime(2018, 2, 17, 22), datetime(2018, 2, 17, 23), datetime(2018, 2, 17, 23),
             datetime(2018, 2, 18, 0)]
    table = pa.table({
        "id_subsistema": ["SE"] * 4, "nom_subsistema": ["SUDESTE"] * 4,
        "din_instante": pa.array(local, pa.timestamp("us")),
        "val_cargaenergiahomwmed": [40000.0, 39000.0, 38000.0, 37000.0],
    })
    path = tmp_path / "carga.parquet"
    pq.write_table(table, path)
    [c] = read(path)
    assert c.measurement == "consumption_data" and c.fields == ["demand_mw"]
    assert c.frame["sector"].unique().to_list() == ["total"]
    assert c.frame["time"].to_list() == [
        local_ns("2018-02-17 22:00"), local_ns("2018-02-17 23:00", 0),
        local_ns("2018-02-17 23:00", 1), local_ns("2018-02-18 00:00")]
    assert any("resolved by file order" in n for n in c.notes)


@pytest.mark.parametrize("chunk_rows", [1, 2, 100])
def test_ons_load_csv_dst_2016_2017_across_chunks(tmp_path: Path, chunk_rows: int) -> None:
    rows = []
    for sub in ("SE", "NE"):  # two series, interleaved below
        rows.append((sub, "2016-02-20 22:00:00"))
    for t in ("2016-02-20 23:00:00", "2016-02-20 23:00:00", "2016-02-21 00:00:00",
              "2016-10-15 23:00:00", "2016-10-16 00:00:00", "2016-10-16 01:00:00",
              "2017-02-18 23:00:00", "2017-02-18 23:00:00", "2017-10-15 01:00:00"):
        rows.append(("SE", t))
        rows.append(("NE", t))
    lines = ["id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed"]
    lines += [f"{s};X;{t};100" for s, t in rows]
    path = tmp_path / "carga.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks = read(path, chunk_rows=chunk_rows)
    assert all(c.source_rows <= chunk_rows for c in chunks)
    assert_accounted(chunks, len(rows))
    f = kept(chunks).sort("_row")
    r = rejects(chunks)
    assert r["reason"].to_list() == ["non-existent local time (DST gap)"] * 2
    assert r["value"].to_list() == ["2016-10-16 00:00:00"] * 2
    for region in ("southeast", "northeast"):
        times = f.filter(pl.col("region") == region)["time"].to_list()
        assert times == [
            local_ns("2016-02-20 22:00"), local_ns("2016-02-20 23:00", 0),
            local_ns("2016-02-20 23:00", 1), local_ns("2016-02-21 00:00"),
            local_ns("2016-10-15 23:00"), local_ns("2016-10-16 01:00"),
            local_ns("2017-02-18 23:00", 0), local_ns("2017-02-18 23:00", 1),
            local_ns("2017-10-15 01:00"),
        ]


def test_ons_interchange(tmp_path: Path) -> None:
    path = tmp_path / "intercambio.csv"
    path.write_text(
        "din_instante;id_subsistema_origem;nom_subsistema_origem;id_subsistema_destino;"
        "nom_subsistema_destino;val_intercambiomwmed\n"
        "2024-01-01 00:00:00;N;NORTE;SE;SUDESTE;-1234,5\n"
        "2024-01-01 00:00:00;NE;NORDESTE;ZZ;?;10\n"
    )
    chunks = read(path)
    assert_accounted(chunks, 2)
    [c] = chunks
    assert c.measurement == "transmission_data"
    assert c.frame.select("line", "from_region", "to_region", "flow_mw").row(0) == (
        "north_southeast", "north", "southeast", -1234.5)
    assert c.rejects["reason"].to_list() == ["unknown subsystem"]
    assert c.rejects["column"].to_list() == ["id_subsistema_destino"]


# --- processed long and wide --------------------------------------------------------------------

def test_processed_long_splits_by_measurement_and_converts_units(tmp_path: Path) -> None:
    path = tmp_path / "processed.csv"
    path.write_text(
        "timestamp,region,energy_source,measurement_type,value,unit,plant,sector\n"
        "2024-01-01T00:00:00Z,southeast,hydro,power_mw,14000,MW,itaipu,\n"
        "2024-01-01T00:00:00Z,SE,Hidrelétrica,power_mw,1.5,GW,tucurui,\n"
        "2024-01-01T00:00:00Z,southeast,hydro,capacity_factor,85,%,itaipu,\n"
        "2024-01-01T00:00:00Z,Sudeste,,demand_mw,40000,MWmed,,residencial\n"
        "2024-01-01T00:00:00Z,southeast,hydro,power_mw,5,MWh,itaipu,\n"
        "2024-01-01T00:00:00Z,southeast,hydro,powr_mw,5,MW,itaipu,\n"
        "2024-01-01T00:00:00Z,atlantis,hydro,power_mw,5,MW,itaipu,\n"
        "2024-01-01T00:00:00Z,southeast,hydro,power_mw,abc,MW,itaipu,\n"
    )
    chunks = read(path)
    assert_accounted(chunks, 8)
    by = {c.measurement: c for c in chunks}
    gen, cons = by["generation_data"], by["consumption_data"]
    assert gen.fields == ["power_mw", "capacity_factor"]
    assert gen.frame["power_mw"].to_list() == [14000.0, 1500.0, None]
    assert gen.frame["capacity_factor"].to_list() == [None, None, 0.85]
    assert gen.frame["plant"].to_list() == ["itaipu", "tucurui", "itaipu"]
    assert gen.frame["region"].to_list() == ["southeast"] * 3
    assert cons.frame.select("region", "sector", "demand_mw").row(0) == (
        "southeast", "residential", 40000.0)
    reasons = rejects(chunks).sort("row")["reason"].to_list()
    assert reasons[0].startswith("unit incompatible")
    assert reasons[1] == "unknown measurement_type (did you mean 'power_mw'?)"
    assert reasons[2:] == ["unknown region", "not a number"]


def test_processed_long_transmission_derives_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "timestamp,region,energy_source,measurement_type,value,unit,from_region,to_region\n"
        "1704067200000,sin,,flow_mw,100,MW,N,SE\n"
    )
    [c] = read(path)
    assert c.measurement == "transmission_data"
    assert c.frame.select("time", "line", "from_region", "to_region").row(0) == (
        1704067200 * 10**9, "north_southeast", "north", "southeast")


def test_wide_parquet_with_tz_timestamps(tmp_path: Path) -> None:
    ts = pa.array([datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 1, tzinfo=UTC),
                   datetime(2024, 1, 1, 2, tzinfo=UTC)], pa.timestamp("ms", tz="UTC"))
    table = pa.table({"timestamp": ts, "region": ["southeast", "SE", "southeast"],
                      "source": ["hydro", "hydro", "wind"], "plant": ["Itaipu", "Itaipu", "x"],
                      "power_mw": [14000.0, None, float("nan")],
                      "capacity_factor": [0.85, 0.8, None]})
    path = tmp_path / "wide.parquet"
    pq.write_table(table, path)
    chunks = read(path)
    assert_accounted(chunks, 3)
    [c] = chunks
    assert c.frame["time"].to_list() == [1704067200 * 10**9, 1704070800 * 10**9]
    assert c.frame["plant"].to_list() == ["itaipu", "itaipu"]
    assert c.frame["power_mw"].to_list() == [14000.0, None]
    assert c.rejects["reason"].to_list() == ["no field values"]


# --- dialects and failures ------------------------------------------------------------------------

def test_forced_wrong_separator_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text(GEN_HEADER + "\n" + gen_row("2024-01-01", "SE", "NUCLEAR", "A", "1") + "\n")
    with pytest.raises(SchemaError, match=r"looks like ';'-separated") as err:
        read(path, separator=",")
    assert str(path) in str(err.value)


def test_semicolon_file_converted_to_one_column_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({GEN_HEADER: ["a;b"]}), path)
    with pytest.raises(SchemaError, match=r"looks like ';'-separated"):
        read(path)


def test_misspelled_column_error_names_file_and_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text(GEN_HEADER.replace("val_geracao", "val_geraçao") + "\n")
    with pytest.raises(SchemaError) as err:
        read(path)
    assert str(path) in str(err.value) and "did you mean 'val_geracao'" in str(err.value)


def test_truncated_parquet(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"timestamp": [1, 2], "line": ["a", "b"], "flow_mw": [1.0, 2.0]}),
                   good)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[:-30])
    with pytest.raises(SourceError, match=r"bad\.parquet.*not a readable Parquet") as err:
        read(bad)
    assert not isinstance(err.value, SchemaError)


def test_csv_named_parquet(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    path.write_text("timestamp,line,flow_mw\n1,a,2\n")
    with pytest.raises(SourceError, match="not a readable Parquet"):
        read(path)


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet", "empty.csv.gz"])
def test_empty_file_is_a_clear_source_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"") if name.endswith(".gz") else b"")
    with pytest.raises(SourceError, match=rf"{name}: empty file: no header and no rows"):
        read(path)


def test_header_only_file(tmp_path: Path) -> None:
    path = tmp_path / "carga.csv"
    path.write_text("id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed\n")
    [c] = read(path)
    assert c.frame.height == 0 and c.source_rows == 0
    assert c.measurement == "consumption_data" and "header only" in c.notes[-1]
    assert c.frame.columns == ["_row", "time", "region", "sector", "demand_mw"]


def test_header_only_parquet(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"timestamp": pa.array([], pa.int64()),
                             "line": pa.array([], pa.string()),
                             "flow_mw": pa.array([], pa.float64())}), path)
    [c] = read(path)
    assert c.frame.height == 0 and "header only" in c.notes[-1]


def test_gzip_csv(tmp_path: Path) -> None:
    path = tmp_path / "carga.csv.gz"
    path.write_bytes(gzip.compress(
        b"id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed\n"
        b"SIN;SIN;2024-01-01 00:00:00;70000,25\n"))
    [c] = read(path)
    assert c.frame.select("region", "demand_mw").row(0) == ("sin", 70000.25)


def test_latin1_after_first_mib_is_read_not_refused(tmp_path: Path) -> None:
    """Issue 9: the encoding is decided by the first non-ASCII byte, wherever it comes."""
    head = "id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed\n"
    ok = "SE;SUDESTE;2024-01-01 00:00:00;1\n" * 40_000  # > 1 MiB of ASCII
    path = tmp_path / "late_latin1.csv"
    path.write_bytes((head + ok).encode() + "NE;NORDESTE SÃO;2024-01-01 00:00:00;2\n"
                     .encode("cp1252"))
    chunks = read(path, chunk_rows=10_000)
    assert_accounted(chunks, 40_001)
    f = kept(chunks)
    assert f.height == 40_001 and f["region"][-1] == "northeast" and f["demand_mw"][-1] == 2.0
    assert any("cp1252" in n for c in chunks for n in c.notes)


def test_utf8_then_invalid_bytes_after_first_mib_is_a_clear_error(tmp_path: Path) -> None:
    head = "id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed\n"
    ok = "SE;SUDESTE É;2024-01-01 00:00:00;1\n" * 40_000  # UTF-8 accents in the first MiB
    path = tmp_path / "mixed.csv"
    path.write_bytes((head + ok).encode() + "SE;SÃO;2024-01-01 00:00:00;1\n".encode("cp1252"))
    with pytest.raises(SourceError, match="mixed encodings"):
        read(path)


@pytest.mark.parametrize("encoding,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
                                          ("utf-16-le", b"")])
def test_utf16_csv_is_read(tmp_path: Path, encoding: str, bom: bytes) -> None:
    """Issue 9: a UTF-16 CSV (Excel's "Unicode text") was called binary data."""
    text = ("id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed\r\n"
            "N;NORTE;2024-01-01 00:00:00;5000,5\r\nS;SUL ÇÃO;2024-01-01 01:00:00;6000\r\n")
    path = tmp_path / "utf16.csv"
    path.write_bytes(bom + text.encode(encoding))
    [c] = read(path)
    assert c.frame["region"].to_list() == ["north", "south"]
    assert c.frame["demand_mw"].to_list() == [5000.5, 6000.0]
    assert any("UTF-16" in n for n in c.notes)


def test_stray_quote_rejects_its_row_not_the_rest_of_the_file(tmp_path: Path) -> None:
    """Issue 9: a `"` opening a field swallowed 86 of 96 rows of an unquoted ONS file."""
    lines = ["id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed"]
    for h in range(96):
        value = f"{40_000 + h}"
        name = "SUDESTE"
        if h == 9:  # row 10: a stray quote opening the value
            value = '"' + value
        if h == 20:  # row 21: a stray quote in a name, harmless
            name = '"SUDESTE'
        lines.append(f"SE;{name};2024-01-{1 + h // 24:02d} {h % 24:02d}:00:00;{value}")
    path = tmp_path / "carga.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks = read(path)
    assert_accounted(chunks, 96)
    f = kept(chunks)
    assert f.height == 95
    assert sorted(f["demand_mw"].to_list()) == [40_000.0 + h for h in range(96) if h != 9]
    [r] = rejects(chunks).to_dicts()
    assert (r["row"], r["column"], r["value"]) == (10, "val_cargaenergiahomwmed", '"40009')
    assert r["reason"] == "not a number"


def test_quoted_csv_keeps_quote_semantics(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text('"timestamp","region","sector","demand_mw"\n'
                    '"2024-01-01T00:00:00Z","south","total","1,5"\n')
    [c] = read(path)
    assert c.frame["demand_mw"].to_list() == [1.5]


@pytest.mark.parametrize("column,values,expected", [
    # decimal commas: the dots are thousands, in every value of the column
    ("comma", ["44.100,5", "44.100", "45.000", "1,5", "2"], [44100.5, 44100.0, 45000.0, 1.5, 2.0]),
    # decimal points: a comma is thousands
    ("dot", ["44.1", "44.100", "1,234.5", "7"], [44.1, 44.1, 1234.5, 7.0]),
    ("dot", ["1234.567", "1,234"], [1234.567, 1234.0]),
])
def test_number_format_is_decided_per_column(
        tmp_path: Path, column: str, values: list[str], expected: list[float]) -> None:
    """Issue 9: `44.100` was 44.1 in a decimal-comma column whose other values said 44.100,5."""
    lines = ["id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed"]
    lines += [f"SE;SE;2024-01-01 {h:02d}:00:00;{v}" for h, v in enumerate(values)]
    path = tmp_path / f"{column}.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks = read(path)
    assert_accounted(chunks, len(values))
    assert kept(chunks)["demand_mw"].to_list() == expected


def test_ambiguous_numbers_are_rejected_not_guessed(tmp_path: Path) -> None:
    """`44.100` with nothing else in its column to say which convention: rejected, named."""
    lines = ["id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed",
             "SE;SE;2024-01-01 00:00:00;44.100", "SE;SE;2024-01-01 01:00:00;45",
             "SE;SE;2024-01-01 02:00:00;1,250"]
    path = tmp_path / "ambiguous.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks = read(path)
    assert_accounted(chunks, 3)
    assert kept(chunks)["demand_mw"].to_list() == [45.0]
    rej = rejects(chunks).sort("row")
    assert rej["row"].to_list() == [1, 3]
    assert all(r.startswith("ambiguous number") for r in rej["reason"].to_list())


def test_conflicting_number_formats_across_chunks_reject_the_later_values(tmp_path: Path) -> None:
    lines = ["id_subsistema;nom_subsistema;din_instante;val_cargaenergiahomwmed",
             "SE;SE;2024-01-01 00:00:00;1,5", "SE;SE;2024-01-01 01:00:00;2",
             "SE;SE;2024-01-01 02:00:00;44.100", "SE;SE;2024-01-01 03:00:00;3.25"]
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks = read(path, chunk_rows=2)
    assert_accounted(chunks, 4)
    # the first chunk says decimal comma; `44.100` is then 44100, and `3.25` contradicts it
    assert kept(chunks)["demand_mw"].to_list() == [1.5, 2.0, 44100.0]
    [r] = rejects(chunks).to_dicts()
    assert r["row"] == 4 and "decimal comma" in r["reason"]


def test_ten_thousand_unknown_columns_give_a_short_message(tmp_path: Path) -> None:
    """Issue 9: 10,000 unknown columns gave a 69 KB one-line error."""
    names = [f"extra_column_{i}" for i in range(10_000)]
    path = tmp_path / "wide.csv"
    path.write_text(",".join(["time", "region", "demand_mw", *names]) + "\n")
    with pytest.raises(SchemaError) as err:
        read(path)
    msg = str(err.value)
    assert len(msg) < 1_000 and "10,000 unknown column(s)" in msg and "9,990 more" in msg
    path = tmp_path / "other.csv"
    path.write_text(",".join(names) + "\n")
    with pytest.raises(SchemaError) as err:
        read(path)
    assert len(str(err.value)) < 1_500 and "10,000 columns found" in str(err.value)
    path = tmp_path / "load.csv"
    path.write_text(";".join(["id_subsistema", "din_instante", "val_cargaenergiahomwmed", *names])
                    + "\n" + ";".join(["SE", "2024-01-01 00:00:00", "1", *["x"] * 10_000]) + "\n")
    [c] = read(path)
    [note] = [n for n in c.notes if "unknown column" in n]
    assert len(note) < 500 and "9,990 more" in note


def test_broken_symlink_and_fifo_fail_alone(tmp_path: Path) -> None:
    """Issue 9: one bad symlink stopped a whole folder; a FIFO named *.csv hung forever."""
    import os

    folder = tmp_path / "in"
    folder.mkdir()
    good = folder / "b_carga.csv"
    good.write_text("id_subsistema;din_instante;val_cargaenergiahomwmed\n"
                    "SE;2024-01-01 00:00:00;1\n")
    (folder / "a_gone.csv").symlink_to(tmp_path / "deleted.csv")
    os.mkfifo(folder / "c_pipe.csv")
    settings = Settings()
    refs = {Path(r.url).name: r for r in list_objects([str(folder)], settings)}
    assert set(refs) == {"a_gone.csv", "b_carga.csv", "c_pipe.csv"}
    assert refs["b_carga.csv"].problem is None
    assert "broken symbolic link" in (refs["a_gone.csv"].problem or "")
    assert "FIFO" in (refs["c_pipe.csv"].problem or "")
    for name in ("a_gone.csv", "c_pipe.csv"):
        with pytest.raises(SourceError, match="symbolic link|FIFO"):
            list(read_object(refs[name], settings))
    [c] = list(read_object(refs["b_carga.csv"], settings))
    assert c.frame["demand_mw"].to_list() == [1.0]
    # named directly, a FIFO is not "no such file"
    [ref] = list_objects([str(folder / "c_pipe.csv")], settings)
    assert "FIFO" in (ref.problem or "")


# --- streaming ---------------------------------------------------------------------------

def test_parquet_many_row_groups_streams_in_bounded_chunks(tmp_path: Path) -> None:
    n = 10_000
    table = pa.table({
        "timestamp": pa.array(range(1_704_067_200, 1_704_067_200 + n), pa.int64()),
        "region": ["southeast"] * n, "sector": ["total"] * n,
        "demand_mw": [float(i) for i in range(n)],
    })
    path = tmp_path / "many.parquet"
    pq.write_table(table, path, row_group_size=700)
    assert pq.ParquetFile(path).num_row_groups > 10
    chunks = read(path, chunk_rows=1_500)
    assert len(chunks) == 7
    assert all(c.frame.height <= 1_500 for c in chunks)
    assert [c.frame.height for c in chunks[:-1]] == [1_500] * 6
    assert_accounted(chunks, n)
    assert kept(chunks)["demand_mw"].to_list() == [float(i) for i in range(n)]


def test_csv_streams_in_bounded_chunks_with_malformed_rows(tmp_path: Path) -> None:
    lines = ["timestamp,region,sector,demand_mw"]
    bad = {123, 4_567, 9_999}
    for i in range(1, 10_001):
        lines.append("oops" if i in bad else f"{1_704_067_200 + i},south,total,{i}")
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks = read(path, chunk_rows=1_000)
    assert all(c.frame.height <= 1_000 for c in chunks)
    assert len(chunks) >= 10
    assert_accounted(chunks, 10_000)
    f = kept(chunks)
    # each kept row's _row matches its value: numbering survives skipped rows
    assert (f["_row"].cast(pl.Float64) == f["demand_mw"]).all()
    assert sorted(rejects(chunks)["row"].to_list()) == sorted(bad)


def test_rebatch_exact_sizes() -> None:
    batches = [pa.record_batch({"a": list(range(k))}) for k in (3, 0, 5, 1, 7)]
    sizes = [t.num_rows for t in rebatch(iter(batches), 4)]
    assert sizes == [4, 4, 4, 4]


def test_long_file_with_every_row_rejected_still_reports(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("timestamp,region,energy_source,measurement_type,value,unit\n"
                    "2024-01-01T00:00:00Z,southeast,hydro,bogus,1,MW\n"
                    "yesterday,southeast,hydro,power_mw,1,MW\n")
    chunks = read(path)
    assert_accounted(chunks, 2)
    assert chunks[0].frame.height == 0
    assert sorted(rejects(chunks)["reason"].to_list()) == [
        "unknown measurement_type", "unparseable timestamp"]


@pytest.mark.parametrize(
    "text,value,kind",
    [("1234,5", 1234.5, "ok"), ("1.234,5", 1234.5, "ok"), ("1,234.5", 1234.5, "ok"),
     ("1,25", 1.25, "ok"), (" -7.5 ", -7.5, "ok"), ("1e3", 1000.0, "ok"),
     ("", None, "missing"), ("NaN", None, "nan"), ("inf", None, "nonfinite"),
     ("12 MW", None, "bad"), ("1.2.3,4,5", None, "bad")],
)
def test_coerce_numbers(text: str, value: float | None, kind: str) -> None:
    from onsflux.sources import coerce_numbers

    nums = coerce_numbers(pl.Series([text]))
    assert nums.values.to_list() == [value]
    assert nums.missing[0] == (kind == "missing")
    assert nums.bad[0] == (kind == "bad")
    assert nums.nan[0] == (kind == "nan")
    assert nums.nonfinite[0] == (kind == "nonfinite")
