"""Catalog-driven validation: every rule, counts, duplicates, and no silent drops."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onsflux.exceptions import SchemaError
from onsflux.frames import REJECT_SCHEMA, Chunk
from onsflux.ingest.encode import encode_lines
from onsflux.ingest.validate import Validated, Validator

NOW = 1_700_000_000 * 10**9
H = 3600 * 10**9
DAY = 24 * H
GEN_TAGS = ["region", "source", "plant"]
GEN_FIELDS = ["power_mw", "capacity_factor", "availability"]


def validator(**kw: int) -> Validator:
    args = {"now_ns": NOW, "retention_seconds": 2555 * 86400, "future_tolerance_seconds": 3600}
    args.update(kw)
    return Validator(**args)


def gen_frame(n: int = 3, **overrides: list) -> pl.DataFrame:
    data: dict[str, list] = {
        "_row": list(range(1, n + 1)),
        "time": [NOW - (i + 1) * H for i in range(n)],
        "region": ["southeast"] * n,
        "source": ["hydro"] * n,
        "plant": [f"plant_{i}" for i in range(n)],
        "power_mw": [100.0 + i for i in range(n)],
        "capacity_factor": [0.5] * n,
        "availability": [0.9] * n,
    }
    data.update(overrides)
    schema = {"_row": pl.UInt64, "time": pl.Int64, "region": pl.Utf8, "source": pl.Utf8,
              "plant": pl.Utf8, "power_mw": pl.Float64, "capacity_factor": pl.Float64,
              "availability": pl.Float64}
    return pl.DataFrame(data, schema={k: schema.get(k, pl.Utf8) for k in data}, strict=False)


def chunk(frame: pl.DataFrame, *, tags: list[str] | None = None, fields: list[str] | None = None,
          measurement: str = "generation_data", source: str = "file:///data/gen.csv") -> Chunk:
    return Chunk(
        source=source,
        measurement=measurement,
        frame=frame,
        tags=tags if tags is not None else [t for t in GEN_TAGS if t in frame.columns],
        fields=fields if fields is not None else [f for f in GEN_FIELDS if f in frame.columns],
    )


def check_accounting(v: Validated) -> None:
    assert v.rows_in == v.rows_ok + v.rejected
    assert v.rows_ok == v.frame.height
    assert v.rejected == v.rejects.height
    assert v.rejects.schema == pl.Schema(REJECT_SCHEMA)
    kept = set(v.frame["_row"].to_list())
    rejected = v.rejects["row"].to_list()
    assert len(rejected) == len(set(rejected)), "one reject per row"
    assert kept.isdisjoint(rejected)


def only_reject(v: Validated) -> dict:
    check_accounting(v)
    assert v.rejects.height == 1, v.rejects
    return v.rejects.row(0, named=True)


# ------------------------------------------------------------------ clean data


def test_clean_chunk_passes_untouched_and_encodes() -> None:
    frame = gen_frame(5)
    v = validator().validate(chunk(frame))
    check_accounting(v)
    assert (v.rows_in, v.rows_ok, v.rejected, v.duplicates) == (5, 5, 0, 0)
    assert v.frame.equals(frame)
    assert v.tags == ["region", "source", "plant"]
    assert v.fields == {"power_mw": "float", "capacity_factor": "float", "availability": "float"}
    lines = encode_lines(v.measurement, v.frame, v.tags, v.fields)
    assert lines.len() == 5


def test_accents_and_emoji_accepted_in_plant_names() -> None:
    names = ["São Simão", "Itá", "Três Irmãos ⚡🌊", "Usina d'Água \"Nova\"", "a,b=c d"]
    v = validator().validate(chunk(gen_frame(5, plant=names)))
    check_accounting(v)
    assert v.rows_ok == 5
    assert v.frame["plant"].to_list() == names


# ------------------------------------------------------------------ schema


def test_missing_required_column_is_schema_error_naming_columns() -> None:
    frame = gen_frame().drop("region")
    with pytest.raises(SchemaError) as err:
        validator().validate(chunk(frame))
    msg = str(err.value)
    assert "region" in msg and "present:" in msg and "power_mw" in msg
    assert "gen.csv" in msg


@pytest.mark.parametrize("col", ["time", "_row"])
def test_missing_time_or_row_is_schema_error(col: str) -> None:
    with pytest.raises(SchemaError, match=col):
        validator().validate(chunk(gen_frame().drop(col)))


def test_unknown_field_or_tag_is_schema_error() -> None:
    frame = gen_frame().with_columns(pl.lit(1.0).alias("power_MW"))
    with pytest.raises(SchemaError, match="power_MW"):
        validator().validate(chunk(frame, fields=["power_MW"]))
    with pytest.raises(SchemaError, match="colour"):
        validator().validate(chunk(frame.with_columns(colour=pl.lit("red")),
                                   tags=["region", "source", "colour"]))


def test_no_field_column_is_schema_error() -> None:
    frame = gen_frame().drop(GEN_FIELDS)
    with pytest.raises(SchemaError, match="no field"):
        validator().validate(chunk(frame, fields=[]))


def test_unlisted_columns_are_ignored_with_a_note() -> None:
    frame = gen_frame().with_columns(pl.lit("x").alias("comment"))
    v = validator().validate(chunk(frame))
    assert "comment" not in v.frame.columns
    assert any("comment" in n for n in v.notes)


# ------------------------------------------------------------------ field types


def test_string_numbers_are_cast_and_unreadable_ones_rejected() -> None:
    frame = gen_frame(4).with_columns(pl.Series("power_mw", [" 1.5 ", "2", "abc", ""]))
    v = validator().validate(chunk(frame))
    r = only_reject(v)
    assert (r["row"], r["column"], r["value"]) == (3, "power_mw", "abc")
    assert "cannot be read as float" in r["reason"]
    assert v.frame.schema["power_mw"] == pl.Float64
    assert v.frame["power_mw"].to_list() == [1.5, 2.0, None]  # "" means no value


def test_integer_column_for_float_field_is_cast() -> None:
    frame = gen_frame(2).with_columns(pl.Series("power_mw", [10, 20], dtype=pl.Int32))
    v = validator().validate(chunk(frame))
    check_accounting(v)
    assert v.frame["power_mw"].dtype == pl.Float64 and v.frame["power_mw"].to_list() == [10.0, 20.0]


def test_categorical_tags_become_utf8() -> None:
    frame = gen_frame(2).with_columns(pl.col("region").cast(pl.Categorical))
    v = validator().validate(chunk(frame))
    assert v.frame.schema["region"] == pl.Utf8 and v.rows_ok == 2


def test_datetime_time_column_becomes_ns() -> None:
    frame = gen_frame(1).with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC")))
    v = validator().validate(chunk(frame))
    assert v.frame.schema["time"] == pl.Int64 and v.frame["time"].item() == NOW - H


# ------------------------------------------------------------------ tags


@pytest.mark.parametrize("value", [None, ""])
def test_required_tag_missing(value: str | None) -> None:
    v = validator().validate(chunk(gen_frame(2, source=["hydro", value])))
    r = only_reject(v)
    assert (r["row"], r["column"]) == (2, "source")
    assert r["reason"] == "required tag source is missing"


def test_optional_tag_null_or_empty_is_absent() -> None:
    v = validator().validate(chunk(gen_frame(3, plant=["a", None, ""])))
    check_accounting(v)
    assert v.rows_ok == 3 and v.frame["plant"].to_list() == ["a", None, None]


def test_tag_vocabulary() -> None:
    v = validator().validate(chunk(gen_frame(2, region=["southeast", "Sudeste"])))
    r = only_reject(v)
    assert (r["row"], r["column"], r["value"]) == (2, "region", "Sudeste")
    assert r["reason"] == "region must be one of north, northeast, sin, south, southeast"


@pytest.mark.parametrize(("value", "word"), [("a\nb", "newline"), ("a\rb", "carriage return"),
                                             ("end\\", "backslash")])
def test_tag_values_line_protocol_cannot_represent(value: str, word: str) -> None:
    v = validator().validate(chunk(gen_frame(2, plant=["ok", value])))
    r = only_reject(v)
    assert (r["row"], r["column"]) == (2, "plant")
    assert word in r["reason"] and "cannot represent" in r["reason"]


def test_one_megabyte_tag_value_rejected_with_length() -> None:
    huge = "x" * (1024 * 1024)
    v = validator().validate(chunk(gen_frame(2, plant=["ok", huge])))
    r = only_reject(v)
    assert (r["row"], r["column"]) == (2, "plant")
    assert r["reason"] == "tag plant is 1048576 bytes long, over the 1024-byte limit"
    assert len(r["value"]) == 200  # shown truncated


def test_tag_size_limit_counts_bytes_and_is_configurable() -> None:
    v = validator(max_tag_bytes=10).validate(chunk(gen_frame(2, plant=["ééééé", "éééééé"])))
    r = only_reject(v)
    assert r["row"] == 2 and "12 bytes long, over the 10-byte limit" in r["reason"]


# ------------------------------------------------------------------ fields


@pytest.mark.parametrize(
    ("value", "needle"),
    [(float("nan"), "is NaN"), (float("inf"), "is infinite"), (float("-inf"), "is infinite")],
)
def test_nan_and_inf_rejected(value: float, needle: str) -> None:
    v = validator().validate(chunk(gen_frame(2, capacity_factor=[0.5, value])))
    r = only_reject(v)
    assert (r["row"], r["column"]) == (2, "capacity_factor") and needle in r["reason"]


def test_out_of_range_names_field_value_range_and_unit() -> None:
    v = validator().validate(chunk(gen_frame(3, capacity_factor=[1.0, 1.02, 0.0],
                                             power_mw=[-1000.0, 1.0, 250_000.0])))
    r = only_reject(v)
    assert (r["row"], r["column"], r["value"]) == (2, "capacity_factor", "1.02")
    assert r["reason"] == "capacity_factor = 1.02 ratio is outside the valid range 0..1 ratio"
    v = validator().validate(chunk(gen_frame(1, power_mw=[300_000.0])))
    r = only_reject(v)
    assert r["reason"] == "power_mw = 300000.0 MW is outside the valid range -1000..250000 MW"


def test_row_with_no_field_values() -> None:
    v = validator().validate(
        chunk(gen_frame(2, power_mw=[1.0, None], capacity_factor=[None, None],
                        availability=[None, None]))
    )
    r = only_reject(v)
    assert (r["row"], r["column"], r["reason"]) == (2, None, "no field values")


def test_partial_fields_are_fine() -> None:
    v = validator().validate(chunk(gen_frame(2, power_mw=[1.0, None], capacity_factor=[None, 0.3])))
    check_accounting(v)
    assert v.rows_ok == 2


# ------------------------------------------------------------------ time


def test_time_rules_and_boundaries() -> None:
    val = validator()
    oldest = NOW - 2555 * 86400 * 10**9
    latest = NOW + 3600 * 10**9
    times = [None, oldest - 1, oldest, latest, latest + 1]
    v = val.validate(chunk(gen_frame(5, time=times)))
    check_accounting(v)
    assert v.frame["_row"].to_list() == [3, 4]
    reasons = dict(zip(v.rejects["row"].to_list(), v.rejects["reason"].to_list(), strict=True))
    assert reasons[1] == "time is missing"
    assert reasons[2].startswith("outside the 2555d retention window")
    assert reasons[5].startswith("in the future")
    assert v.rejects.filter(pl.col("row") == 2)["value"].item().endswith("Z")


def test_infinite_retention() -> None:
    v = validator(retention_seconds=0).validate(chunk(gen_frame(1, time=[-50 * 365 * DAY])))
    check_accounting(v)
    assert v.rows_ok == 1


def test_first_reason_wins_when_a_row_has_several_problems() -> None:
    v = validator().validate(
        chunk(gen_frame(1, time=[None], region=["mars"], power_mw=[float("nan")]))
    )
    assert only_reject(v)["reason"] == "time is missing"


# ------------------------------------------------------------------ duplicates


def test_duplicates_within_chunk_last_wins() -> None:
    t = NOW - H
    frame = gen_frame(
        4,
        time=[t, t, t, t],
        plant=["a", "a", "b", "a"],
        power_mw=[1.0, 2.0, 3.0, 4.0],
    )
    v = validator().validate(chunk(frame))
    check_accounting(v)
    assert v.duplicates == 2
    assert v.frame["_row"].to_list() == [3, 4]
    assert v.frame["power_mw"].to_list() == [3.0, 4.0]
    assert v.rejects["reason"].to_list() == ["duplicate of row 4 (last wins)"] * 2
    assert v.rejects["row"].to_list() == [1, 2]


def test_same_point_with_different_field_sets_is_not_a_duplicate() -> None:
    t = NOW - H
    frame = gen_frame(2, time=[t, t], plant=["a", "a"], power_mw=[1.0, None],
                      capacity_factor=[None, 0.5], availability=[None, None])
    v = validator().validate(chunk(frame))
    assert v.duplicates == 0 and v.rows_ok == 2


def test_null_optional_tags_count_in_duplicate_key() -> None:
    t = NOW - H
    frame = gen_frame(3, time=[t, t, t], plant=[None, "", "x"])
    v = validator().validate(chunk(frame))
    check_accounting(v)
    assert v.duplicates == 1 and v.frame["_row"].to_list() == [2, 3]


def test_rejected_rows_do_not_supersede_good_ones() -> None:
    t = NOW - H
    frame = gen_frame(2, time=[t, t], plant=["a", "a"], power_mw=[1.0, float("nan")])
    v = validator().validate(chunk(frame))
    check_accounting(v)
    assert v.frame["_row"].to_list() == [1] and v.duplicates == 0


def test_duplicates_across_chunks_are_counted_not_rejected() -> None:
    val = validator()
    first = val.validate(chunk(gen_frame(3)))
    assert first.cross_chunk_duplicates == 0
    second_frame = gen_frame(3).with_columns(
        (pl.col("_row") + 3), pl.Series("power_mw", [7.0, 8.0, 9.0])
    )
    second = val.validate(chunk(second_frame[1:]))
    check_accounting(second)
    assert second.cross_chunk_duplicates == 2 and second.rows_ok == 2 and second.duplicates == 0
    assert any("earlier chunk" in n for n in second.notes)
    # a chunk missing an optional column still matches rows where that tag was null
    third = val.validate(chunk(gen_frame(1, plant=[None]).drop("plant")))
    fourth = val.validate(chunk(gen_frame(1, plant=[None])))
    assert third.cross_chunk_duplicates == 0 and fourth.cross_chunk_duplicates == 1


def test_another_validator_has_its_own_memory() -> None:
    validator().validate(chunk(gen_frame(2)))
    assert validator().validate(chunk(gen_frame(2))).cross_chunk_duplicates == 0


# ------------------------------------------------------------------ other measurements


def test_consumption_and_transmission_measurements() -> None:
    frame = pl.DataFrame(
        {"_row": [1, 2], "time": [NOW - H, NOW - H], "region": ["south", "sul"],
         "sector": ["total", None], "demand_mw": [12_000.0, 11_000.0]}
    )
    v = validator().validate(chunk(frame, measurement="consumption_data",
                                   tags=["region", "sector"], fields=["demand_mw"]))
    r = only_reject(v)
    assert r["row"] == 2 and r["column"] == "region"
    frame = pl.DataFrame(
        {"_row": [1], "time": [NOW - H], "line": ["se-ne"], "from_region": ["southeast"],
         "to_region": ["northeast"], "flow_mw": [-4200.0]}
    )
    v = validator().validate(chunk(frame, measurement="transmission_data",
                                   tags=["line", "from_region", "to_region"], fields=["flow_mw"]))
    check_accounting(v)
    assert v.rows_ok == 1


# ------------------------------------------------------------------ property: accounting


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from([NOW - H, NOW - 2 * H, None, NOW + DAY, NOW - 3000 * DAY]),
            st.sampled_from(["north", "south", "mars", "", None]),
            st.sampled_from(["a", "b", None, "x\ny"]),
            st.one_of(st.none(), st.sampled_from([1.0, 2.0, -5000.0, float("nan")])),
            st.one_of(st.none(), st.sampled_from([0.5, 1.5])),
        ),
        max_size=40,
    )
)
def test_property_every_row_kept_or_rejected_once(rows: list[tuple]) -> None:
    frame = pl.DataFrame(
        [(i + 1, *r) for i, r in enumerate(rows)],
        schema={"_row": pl.UInt64, "time": pl.Int64, "region": pl.Utf8, "plant": pl.Utf8,
                "power_mw": pl.Float64, "capacity_factor": pl.Float64},
        orient="row",
    ).with_columns(source=pl.lit("hydro"))
    v = validator().validate(chunk(frame))
    check_accounting(v)
    assert set(v.frame["_row"].to_list()) | set(v.rejects["row"].to_list()) == set(
        range(1, len(rows) + 1)
    )
    if v.frame.height:
        encode_lines(v.measurement, v.frame, v.tags, v.fields)  # clean output always encodes


def test_a_later_chunk_repeating_a_point_with_other_fields_is_a_cross_chunk_duplicate() -> None:
    """Same series and time, a different field set: InfluxDB merges the fields and the
    later value of a field both rows carry must win, so the pipeline has to write the
    later row after the earlier one: it is counted as a cross-chunk duplicate."""
    t = NOW - H
    val = validator()
    val.validate(chunk(gen_frame(1, time=[t], plant=["a"], capacity_factor=[None])))
    later = val.validate(chunk(gen_frame(1, time=[t], plant=["a"], _row=[2])))
    assert later.rows_ok == 1 and later.duplicates == 0
    assert later.cross_chunk_duplicates == 1


def test_the_series_time_hash_is_shared_by_rows_with_other_fields() -> None:
    """``Validated.series_time`` (what the pipeline's verify bookkeeping reuses) hashes the
    series and time only; ``unique_series_time`` is claimed only when it holds."""
    t = NOW - H
    mixed = validator().validate(chunk(gen_frame(
        2, time=[t, t], plant=["a", "a"], power_mw=[1.0, None], capacity_factor=[None, 0.5])))
    assert mixed.series_time is not None and mixed.series_time.n_unique() == 1
    assert not mixed.unique_series_time
    full = validator().validate(chunk(gen_frame(3)))
    assert full.unique_series_time and full.series_time is not None
    assert full.series_time.n_unique() == 3
