"""Timestream record → InfluxDB point mapping: pure, table-driven."""

from __future__ import annotations

import json

import polars as pl
import pytest

from onsflux.exceptions import ConfigError
from onsflux.ingest.encode import encode_lines
from onsflux.migrate.mapping import TableMapping, default_mapping, map_frame
from onsflux.migrate.plan import load_mapping

TM = TableMapping("t", "b", "m", tags={"energy_source": "source"})
WEIRD = 'Sudeste, "Centro-Oeste" = São Paulo'

SINGLE_TYPES = {"region": "VARCHAR", "energy_source": "VARCHAR", "measure_name": "VARCHAR",
                "time": "TIMESTAMP", "measure_value::double": "DOUBLE",
                "measure_value::bigint": "BIGINT", "measure_value::varchar": "VARCHAR",
                "measure_value::boolean": "BOOLEAN"}


def single() -> pl.DataFrame:
    return pl.DataFrame({
        "region": [WEIRD, "north", "north", "north", "north", "a\\"],
        "energy_source": ["hydro"] * 6,
        "measure_name": ["power_mw", "count", "label", "flag", "power_mw", "power_mw"],
        "time": [1, 2, 3, 4, 5, 6],
        "measure_value::double": [1.5, None, None, None, None, 2.0],
        "measure_value::bigint": [None, 2**53 + 1, None, None, None, None],
        "measure_value::varchar": [None, None, "é,\"x\"", None, None, None],
        "measure_value::boolean": [None, None, None, True, None, None],
    }, schema_overrides={"measure_value::bigint": pl.Int64})


def test_single_measure_types_nulls_and_rejects() -> None:
    m = map_frame(TM, single(), SINGLE_TYPES, source="f")
    assert m.fields == {"count": "integer", "flag": "boolean", "label": "string",
                        "power_mw": "float"}
    assert m.tags == ["region", "source"]
    assert m.rows == 6 and m.null_measures == 1 and m.points == 4
    assert m.rejects.height == 1
    r = m.rejects.row(0, named=True)
    assert r["row"] == 6 and r["column"] == "region" and "backslash" in r["reason"]
    assert m.frame.filter(pl.col("time") == 2)["count"].item() == 2**53 + 1
    assert m.frame.filter(pl.col("time") == 1)["region"].item() == WEIRD


def test_single_measure_type_conflict_is_a_reject() -> None:
    f = pl.DataFrame({"d": ["x"] * 3, "measure_name": ["p"] * 3, "time": [1, 2, 3],
                      "measure_value::double": [1.0, 2.0, None],
                      "measure_value::bigint": [None, None, 7]})
    m = map_frame(TM, f, {"d": "VARCHAR", "time": "TIMESTAMP"}, source="f")
    assert m.fields == {"p": "float"} and m.points == 2
    assert m.rejects.height == 1 and m.rejects["row"].item() == 3


def test_multi_measure_renames_dimension_fields_and_nulls() -> None:
    tm = TableMapping("t", "b", "m", tags={"energy_source": "source"},
                      fields={"note": "comment", "mw": "power_mw"},
                      dimension_fields={"plant_code": "plant_code"})
    f = pl.DataFrame({"energy_source": ["wind", "wind", "solar"], "plant_code": ["A", "B", "C"],
                      "measure_name": ["metrics"] * 3, "time": [10, 20, 30],
                      "mw": [1.0, None, None], "note": ["a", None, None],
                      "n": [1, 2, None]})
    types = {"energy_source": "VARCHAR", "plant_code": "VARCHAR", "measure_name": "VARCHAR",
             "time": "TIMESTAMP", "mw": "DOUBLE", "note": "VARCHAR", "n": "BIGINT"}
    m = map_frame(tm, f, types, source="f")
    assert m.tags == ["source"]
    assert m.fields == {"power_mw": "float", "comment": "string", "n": "integer",
                        "plant_code": "string"}
    assert m.points == 2 and m.null_measures == 1 and m.null_values == 2


@pytest.mark.parametrize("value,why", [("a\nb", "newline"), ("a\rb", "carriage return"),
                                       ("ends\\", "backslash")])
def test_unrepresentable_tag_values_are_rejects(value: str, why: str) -> None:
    f = pl.DataFrame({"d": [value, "ok"], "time": [1, 2], "v": [1.0, 2.0]})
    m = map_frame(TM, f, {"d": "VARCHAR", "time": "TIMESTAMP", "v": "DOUBLE"}, source="f")
    assert m.points == 1 and why in m.rejects["reason"].item()


def test_nan_double_is_a_reject() -> None:
    f = pl.DataFrame({"d": ["x", "y"], "time": [1, 2], "v": [float("nan"), 2.0]})
    m = map_frame(TM, f, {"d": "VARCHAR", "time": "TIMESTAMP", "v": "DOUBLE"}, source="f")
    assert m.points == 1 and "NaN" in m.rejects["reason"].item()


def test_weird_tag_values_encode_verbatim() -> None:
    m = map_frame(TM, single().head(2), SINGLE_TYPES, source="f")
    lines = encode_lines("m", m.frame, m.tags, m.fields).to_list()
    assert lines[0] == ('m,region=Sudeste\\,\\ "Centro-Oeste"\\ \\=\\ São\\ Paulo,source=hydro '
                        "power_mw=1.5 1")
    assert lines[1].endswith(f"count={2**53 + 1}i 2")


def test_defaults_and_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = default_mapping()
    assert set(d.tables) == {"generation_data", "consumption_data", "transmission_data"}
    assert d.table("generation_data").tags["energy_source"] == "source"
    toml = tmp_path / "m.toml"
    toml.write_text('cardinality_warning = 5\n[tables.generation_data]\nbucket = "x"\n'
                    '[tables.other]\nmeasurement = "o"\n')
    m = load_mapping(toml)
    assert m.cardinality_warning == 5 and m.table("generation_data").bucket == "x"
    assert m.table("generation_data").measurement == "generation_data"
    assert m.table("other").bucket == "o"
    js = tmp_path / "m.json"
    js.write_text(json.dumps({"tables": {"consumption_data": {"tags": {"sub": "region"}}}}))
    assert load_mapping(js).table("consumption_data").tags == {"subsystem": "region",
                                                               "sub": "region"}
    bad = tmp_path / "bad.toml"
    bad.write_text("[tables.x]\nbukket = 1\n")
    with pytest.raises(ConfigError, match="bukket"):
        load_mapping(bad)
    with pytest.raises(ConfigError, match="not in the mapping"):
        d.table("nope")
