"""Parallel-series detection and series-key parsing (pure)."""

from __future__ import annotations

import polars as pl
import pytest

from onsflux import catalog
from onsflux.exceptions import ParallelSeries
from onsflux.ingest.series import SeriesIndex, parse_series_key


@pytest.mark.parametrize("key,name,tags", [
    ("consumption_data,region=southeast,sector=total", "consumption_data",
     {"region": "southeast", "sector": "total"}),
    (r"generation_data,plant_name=Paulo\ Afonso\ I\,\ II\ e\ III,region=northeast",
     "generation_data", {"plant_name": "Paulo Afonso I, II e III", "region": "northeast"}),
    (r"m\,x,a\=b=c\=d", "m,x", {"a=b": "c=d"}),
    ("m", "m", {}),
])
def test_parse_series_key(key: str, name: str, tags: dict[str, str]) -> None:
    assert parse_series_key(key) == (name, tags)


def test_sector_less_load_beside_the_total_is_parallel() -> None:
    index = SeriesIndex("consumption_data", [{"region": "south", "sector": "total"}])
    frame = pl.DataFrame({"region": ["south", "south"], "sector": [None, None]})
    with pytest.raises(ParallelSeries, match="region=south beside region=south,sector=total"):
        index.check(frame, ["region", "sector"], "f.parquet")


def test_same_tags_and_other_quantities_are_not_parallel() -> None:
    index = SeriesIndex("generation_data", [
        {"region": "north", "source": "hydro", "plant": "tucurui", "plant_id": "PAUHTU"}])
    frame = pl.DataFrame({"region": ["north", "north"], "source": ["hydro", "hydro"],
                          "plant": ["tucurui", "belo_monte"], "plant_id": ["PAUHTU", None]})
    index.check(frame, ["region", "source", "plant", "plant_id"], "f")  # no error
    # within one file, the same plant with and without its id is parallel too
    twice = pl.DataFrame({"region": ["north"] * 2, "source": ["hydro"] * 2,
                          "plant": ["balbina"] * 2, "plant_id": ["X", None]})
    with pytest.raises(ParallelSeries):
        SeriesIndex("generation_data").check(twice, ["region", "source", "plant", "plant_id"], "f")


def test_plant_tags_keep_published_id_and_accents() -> None:
    assert catalog.plant_tags("  Santo  Antônio do Jari ", " APUHSJ ", "AP") == {
        "plant": "santo_antonio_do_jari", "plant_name": "Santo Antônio do Jari",
        "plant_id": "APUHSJ", "state": "ap"}
    assert catalog.plant_tags("MMGD Sul") == {"plant": "mmgd_sul", "plant_name": "MMGD Sul"}
    assert catalog.normalize_tag("plant_id", " pRuHiT ") == "pRuHiT"
