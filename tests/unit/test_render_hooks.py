"""The renderer's shape: the base walk calls per-piece hooks and reads capability flags."""

from __future__ import annotations

import pytest

from onsflux.exceptions import UnsupportedError
from onsflux.query.render import GENERATORS, InfluxQLGenerator
from onsflux.query.spec import QuerySpec

RANKED = QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                          "start": "2024-03-01", "stop": "2024-03-02", "aggregate": "mean",
                          "every": "1h", "group_by": ["region"], "top": 2})


def test_one_hook_override_changes_only_its_piece() -> None:
    class Shouting(InfluxQLGenerator):
        def limit_sql(self, spec: QuerySpec) -> str:
            return f"LIMIT {spec.limit + 1} -- shout"

    spec = RANKED.replace(top=None)
    plain = InfluxQLGenerator().generate(spec).text
    assert Shouting().generate(spec).text == plain + " -- shout"


def test_capability_flag_is_read_by_the_walk_not_the_dialect() -> None:
    for generator in GENERATORS.values():
        with pytest.raises(UnsupportedError, match="top/bottom over windows grouped by tags"):
            generator().generate(RANKED)

    class Capable(InfluxQLGenerator):
        RANK_OVER_GROUPED_WINDOWS = True

    assert Capable().generate(RANKED).text.startswith('SELECT top("power_mw", "region", 2)')


def test_fill_capability_is_declared_per_dialect() -> None:
    spec = RANKED.replace(top=None, fill="linear", group_by=[])
    assert "fill(linear)" in InfluxQLGenerator().generate(spec).text
    with pytest.raises(UnsupportedError, match="fill 'linear'") as info:
        GENERATORS["flux"]().generate(spec)
    assert info.value.dialect == "flux"
