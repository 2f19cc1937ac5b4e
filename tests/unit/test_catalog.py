"""The data contract: what ingest, validation and the question parser rely on."""

import pytest

from onsflux import catalog
from onsflux.exceptions import CatalogError


def test_three_buckets_with_seven_year_retention() -> None:
    assert catalog.BUCKETS == ("generation_data", "consumption_data", "transmission_data")
    assert all(m.retention == "2555d" for m in catalog.MEASUREMENTS.values())


@pytest.mark.parametrize(
    ("field", "measurement"),
    [("power_mw", "generation_data"), ("capacity_factor", "generation_data"),
     ("demand_mw", "consumption_data"), ("consumption_mwh", "consumption_data"),
     ("flow_mw", "transmission_data"), ("losses_mwh", "transmission_data")],
)
def test_field_names_its_measurement(field: str, measurement: str) -> None:
    assert catalog.measurement_for_field(field).name == measurement


def test_unknown_field_lists_known_ones() -> None:
    with pytest.raises(CatalogError, match="known: .*power_mw"):
        catalog.measurement_for_field("power")


@pytest.mark.parametrize(
    ("text", "slug"),
    [("Sudeste", "southeast"), ("SE/CO", "southeast"), ("sudeste/centro-oeste", "southeast"),
     ("Southeast", "southeast"), ("NORDESTE", "northeast"), ("NE", "northeast"),
     ("Norte", "north"), ("Sul", "south"), ("Brasil", "sin"), ("SIN", "sin"),
     ("  região   Sul ", "south")],
)
def test_region_aliases(text: str, slug: str) -> None:
    assert catalog.resolve_region(text) == slug


@pytest.mark.parametrize(
    ("text", "slug"),
    [("HIDROELÉTRICA", "hydro"), ("hídrica", "hydro"), ("UHE", "hydro"), ("TÉRMICA", "thermal"),
     ("EOLIELÉTRICA", "wind"), ("eólica", "wind"), ("FOTOVOLTAICA", "solar"),
     ("NUCLEAR", "nuclear"), ("wind", "wind")],
)
def test_source_aliases_include_ons_spellings(text: str, slug: str) -> None:
    assert catalog.resolve_source(text) == slug


def test_unknown_region_is_none_not_a_guess() -> None:
    assert catalog.resolve_region("Atlantis") is None


@pytest.mark.parametrize(
    ("text", "slug"),
    [("Itaipu", "itaipu"), ("  Tucuruí ", "tucurui"), ("Santo Antônio", "santo_antonio"),
     ("Paulo Afonso IV", "paulo_afonso_iv"), ("UTE Porto do Pecém I", "ute_porto_do_pecem_i"),
     ("Angra 2", "angra_2"), ("Ventos/São-João", "ventos_sao_joao")],
)
def test_slug(text: str, slug: str) -> None:
    assert catalog.slug(text) == slug


@pytest.mark.parametrize(
    ("unit", "expected", "factor"),
    [("MW", "MW", 1.0), ("GW", "MW", 1000.0), ("mwmed", "MW", 1.0), ("kWh", "MWh", 0.001),
     ("%", "ratio", 0.01), ("MWh", "MW", None)],
)
def test_unit_factor(unit: str, expected: str, factor: float | None) -> None:
    assert catalog.unit_factor(unit, expected) == factor


def test_ranges() -> None:
    cf = catalog.measurement("generation_data").field("capacity_factor")
    assert cf.in_range(0.0) and cf.in_range(1.0)
    assert not cf.in_range(1.01) and not cf.in_range(-0.01)
