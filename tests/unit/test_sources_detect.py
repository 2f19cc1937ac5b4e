"""Format detection from column names (pure)."""

from __future__ import annotations

import pytest

from onsflux.exceptions import SchemaError
from onsflux.sources.detect import (
    ONS_GENERATION_COLUMNS,
    ONS_INTERCHANGE_COLUMNS,
    ONS_LOAD_COLUMNS,
    detect_format,
)

# the exact published names (DESIGN.md "Data contract")
GEN = ["din_instante", "id_subsistema", "nom_subsistema", "id_estado", "nom_estado",
       "cod_modalidadeoperacao", "nom_tipousina", "nom_tipocombustivel", "nom_usina", "id_ons",
       "ceg", "val_geracao"]
LOAD = ["id_subsistema", "nom_subsistema", "din_instante", "val_cargaenergiahomwmed"]
INTER = ["din_instante", "id_subsistema_origem", "nom_subsistema_origem",
         "id_subsistema_destino", "nom_subsistema_destino", "val_intercambiomwmed"]
LONG = ["timestamp", "region", "energy_source", "measurement_type", "value", "unit"]


def test_design_column_lists_match_module_constants() -> None:
    assert list(ONS_GENERATION_COLUMNS) == GEN
    assert list(ONS_LOAD_COLUMNS) == LOAD
    assert list(ONS_INTERCHANGE_COLUMNS) == INTER


@pytest.mark.parametrize(
    "columns,kind,measurement",
    [
        (GEN, "ons_generation", "generation_data"),
        (LOAD, "ons_load", "consumption_data"),
        (INTER, "ons_interchange", "transmission_data"),
        (LONG, "long", None),
        ([*LONG, "plant", "sector", "line", "voltage", "from_region", "to_region", "state",
          "plant_id"], "long", None),
        (["timestamp", "region", "source", "plant", "power_mw", "capacity_factor"], "wide",
         "generation_data"),
        (["time", "region", "sector", "demand_mw"], "wide", "consumption_data"),
        (["timestamp", "line", "voltage", "flow_mw", "losses_mwh"], "wide",
         "transmission_data"),
        (["timestamp", "region", "energy_source", "power_mw"], "wide", "generation_data"),
    ],
)
def test_each_format(columns: list[str], kind: str, measurement: str | None) -> None:
    fmt = detect_format(columns)
    assert fmt.kind == kind
    assert fmt.measurement == measurement


@pytest.mark.parametrize("transform", [str.upper, lambda c: f"  {c} ", lambda c: c.title()])
def test_case_and_padding_insensitive(transform) -> None:  # type: ignore[no-untyped-def]
    for cols, kind in ((GEN, "ons_generation"), (LOAD, "ons_load"),
                       (INTER, "ons_interchange"), (LONG, "long")):
        fmt = detect_format([transform(c) for c in cols])
        assert fmt.kind == kind
        # the mapping keeps the file's own spelling, for reading
        assert fmt.columns["din_instante" if kind.startswith("ons") else "timestamp"] == \
            transform(cols[cols.index("din_instante" if kind.startswith("ons") else "timestamp")])


def test_bom_on_first_name() -> None:
    assert detect_format(["\ufeffdin_instante", *GEN[1:]]).kind == "ons_generation"


def test_projection_reads_only_needed_columns() -> None:
    fmt = detect_format(GEN)
    assert set(fmt.source_columns) == {"din_instante", "id_subsistema", "nom_subsistema",
                                       "id_estado", "nom_tipousina", "nom_usina", "id_ons",
                                       "val_geracao"}
    assert "ceg" in fmt.ignored and not fmt.unknown


def test_extra_columns_in_ons_file_are_reported_not_fatal() -> None:
    fmt = detect_format([*LOAD, "din_referencia"])
    assert fmt.kind == "ons_load" and fmt.unknown == ("din_referencia",)


def test_misspelled_ons_column_suggests_closest() -> None:
    cols = [c if c != "val_geracao" else "val_geraçao" for c in GEN]
    with pytest.raises(SchemaError) as err:
        detect_format(cols)
    msg = str(err.value)
    assert "ONS generation" in msg and "val_geracao" in msg
    assert "did you mean 'val_geracao'" in msg


def test_misspelled_wide_field_suggests_closest() -> None:
    with pytest.raises(SchemaError, match=r"'powr_mw'.*did you mean 'power_mw'"):
        detect_format(["timestamp", "region", "source", "power_mw", "powr_mw"])


def test_misspelled_long_column() -> None:
    with pytest.raises(SchemaError, match=r"did you mean 'measurement_type'"):
        detect_format(["timestamp", "region", "energy_source", "measurment_type", "value",
                       "unit"])


def test_wrong_separator_message() -> None:
    with pytest.raises(SchemaError, match=r"looks like ';'-separated"):
        detect_format([";".join(GEN)])


def test_fields_of_two_measurements() -> None:
    with pytest.raises(SchemaError, match="several measurements"):
        detect_format(["timestamp", "region", "source", "power_mw", "demand_mw"])


def test_wide_missing_required_tag() -> None:
    with pytest.raises(SchemaError, match="required tag column.*source"):
        detect_format(["timestamp", "region", "power_mw"])


def test_duplicate_after_normalization() -> None:
    with pytest.raises(SchemaError, match="duplicate column"):
        detect_format(["timestamp", "Timestamp ", "region", "source", "power_mw"])


def test_nothing_known() -> None:
    with pytest.raises(SchemaError, match="do not match any known input format"):
        detect_format(["a", "b"])
