"""Renderers: golden strings per dialect, unsupported features, and validity of the whole
matrix -- Flux through the real Flux checker (WebAssembly, via node: fails, never skips,
when it cannot run), SQL and Timestream SQL through sqlglot. InfluxQL of the same matrix
is run on the real server in ``tests/integration/test_query_influx.py``.
"""

from __future__ import annotations

import itertools

import pytest
import sqlglot

from onsflux.exceptions import InvalidQuery, UnsupportedError
from onsflux.query import AGGREGATES, DIALECTS, QuerySpec, render, render_all, template
from onsflux.query.render import Generator, assert_read_only
from tests.support.flux import check_flux

T0, T1 = "2024-03-01T00:00:00Z", "2024-03-31T00:00:00Z"
NASTY = ["it's", 'say "hi"', "back\\slash", "trail\\", "${x}", "|> drop()", "a;b", "line\nbreak",
         ".*|^$", "' OR '1'='1", "-- c", "/* c */", "\t", "ação"]


def spec(**kw: object) -> QuerySpec:
    base: dict[str, object] = {"measurement": "generation_data", "fields": ["power_mw"],
                               "start": T0, "stop": T1}
    return QuerySpec.parse({**base, **kw})


# --------------------------------------------------------------------------- golden

GOLDEN_TREND = {
    "influxql": (
        'SELECT mean("power_mw") AS "power_mw" FROM "generation_data" WHERE time >= '
        "'2024-03-01T00:00:00Z' AND time < '2024-03-31T00:00:00Z' GROUP BY time(1h), \"region\" "
        "fill(none) LIMIT 10001"
    ),
    "flux": (
        'from(bucket: "generation_data")\n'
        "  |> range(start: 2024-03-01T00:00:00Z, stop: 2024-03-31T00:00:00Z)\n"
        '  |> filter(fn: (r) => r._measurement == "generation_data")\n'
        '  |> filter(fn: (r) => r._field == "power_mw")\n'
        '  |> group(columns: ["_measurement", "_field", "region"])\n'
        '  |> aggregateWindow(every: 1h, fn: mean, createEmpty: false, timeSrc: "_start")\n'
        "  |> limit(n: 10001)"
    ),
    "sql": (
        "SELECT date_bin(INTERVAL '1 hour', \"time\", TIMESTAMP '1970-01-01T00:00:00Z') AS \"time\", "
        '"region", avg("power_mw") AS "power_mw"\n'
        'FROM "generation_data"\n'
        "WHERE \"time\" >= TIMESTAMP '2024-03-01T00:00:00Z' AND \"time\" < TIMESTAMP "
        "'2024-03-31T00:00:00Z'\n"
        'GROUP BY 1, "region"\n'
        'ORDER BY "region", "time" ASC\n'
        "LIMIT 10001"
    ),
    "timestream": (
        "SELECT bin(\"time\", parse_duration('1h')) AS \"time\", \"region\", \"measure_name\", "
        'avg("measure_value::double") AS "value"\n'
        'FROM "ons_energy_data"."generation_data"\n'
        "WHERE \"measure_name\" = 'power_mw' AND \"time\" >= "
        "from_iso8601_timestamp('2024-03-01T00:00:00Z') AND \"time\" < "
        "from_iso8601_timestamp('2024-03-31T00:00:00Z')\n"
        "GROUP BY bin(\"time\", parse_duration('1h')), \"region\", \"measure_name\"\n"
        'ORDER BY "region", "time" ASC\n'
        "LIMIT 10001"
    ),
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_golden_generation_trend(dialect: str) -> None:
    assert render(template("generation_trend", T0, T1), dialect).text == GOLDEN_TREND[dialect]


GOLDEN_FILTERED = {
    "influxql": (
        'SELECT sum("power_mw") * 1.0 AS "power_mw" FROM "generation_data" WHERE time >= '
        "'2024-03-01T00:00:00Z' AND time < '2024-03-31T00:00:00Z' AND (\"region\" = 'north' OR "
        "\"region\" = 'northeast') AND \"plant\" = 'it\\'s \"x\"\\\\' GROUP BY \"source\" LIMIT 101"
    ),
    "flux": (
        'from(bucket: "generation_data")\n'
        "  |> range(start: 2024-03-01T00:00:00Z, stop: 2024-03-31T00:00:00Z)\n"
        '  |> filter(fn: (r) => r._measurement == "generation_data")\n'
        '  |> filter(fn: (r) => r._field == "power_mw")\n'
        '  |> filter(fn: (r) => r["region"] == "north" or r["region"] == "northeast")\n'
        '  |> filter(fn: (r) => r["plant"] == "it\'s \\"x\\"\\\\")\n'
        '  |> group(columns: ["_measurement", "_field", "source"])\n'
        "  |> sum()\n"
        '  |> duplicate(column: "_start", as: "_time")\n'
        "  |> map(fn: (r) => ({r with _value: float(v: r._value) * 1.0}))\n"
        "  |> limit(n: 101)"
    ),
    "sql": (
        "SELECT TIMESTAMP '2024-03-01T00:00:00Z' AS \"time\", \"source\", sum(\"power_mw\") * 1.0 AS "
        '"power_mw"\n'
        'FROM "generation_data"\n'
        "WHERE \"time\" >= TIMESTAMP '2024-03-01T00:00:00Z' AND \"time\" < TIMESTAMP "
        "'2024-03-31T00:00:00Z' AND \"region\" IN ('north', 'northeast') AND \"plant\" = "
        "'it''s \"x\"\\'\n"
        'GROUP BY "source"\n'
        'ORDER BY "source", "time" ASC\n'
        "LIMIT 101"
    ),
}


GOLDEN_LOCAL_DAYS = {
    "influxql": (
        'SELECT sum("demand_mw") AS "demand_mw" FROM "consumption_data" WHERE time >= '
        "'2024-03-01T03:00:00Z' AND time < '2024-03-31T03:00:00Z' AND \"region\" = 'south' "
        "GROUP BY time(1d, 3h) fill(null) LIMIT 10001"
    ),
    "flux": (
        'from(bucket: "consumption_data")\n'
        "  |> range(start: 2024-03-01T03:00:00Z, stop: 2024-03-31T03:00:00Z)\n"
        '  |> filter(fn: (r) => r._measurement == "consumption_data")\n'
        '  |> filter(fn: (r) => r._field == "demand_mw")\n'
        '  |> filter(fn: (r) => r["region"] == "south")\n'
        '  |> group(columns: ["_measurement", "_field"])\n'
        "  |> aggregateWindow(every: 1d, offset: 3h, fn: sum, createEmpty: true, "
        'timeSrc: "_start")\n'
        "  |> limit(n: 10001)"
    ),
    "sql": (
        "SELECT date_bin_gapfill(INTERVAL '1 day', \"time\", TIMESTAMP '1970-01-01T03:00:00Z') "
        'AS "time", sum("demand_mw") AS "demand_mw"\n'
        'FROM "consumption_data"\n'
        "WHERE \"time\" >= TIMESTAMP '2024-03-01T03:00:00Z' AND \"time\" < TIMESTAMP "
        "'2024-03-31T03:00:00Z' AND \"region\" = 'south'\n"
        "GROUP BY 1\n"
        'ORDER BY "time" ASC\n'
        "LIMIT 10001"
    ),
}


@pytest.mark.parametrize("dialect", GOLDEN_LOCAL_DAYS)
def test_golden_day_windows_start_at_local_midnight(dialect: str) -> None:
    """``1d`` in America/Sao_Paulo: windows from 00:00 Brasília (03:00 UTC), offset derived."""
    s = QuerySpec.parse({"measurement": "consumption_data", "fields": ["demand_mw"],
                         "where": {"region": "south"}, "start": "2024-03-01",
                         "stop": "2024-03-31", "timezone": "America/Sao_Paulo",
                         "every": "1d", "aggregate": "sum", "fill": "null"})
    assert render(s, dialect).text == GOLDEN_LOCAL_DAYS[dialect]


def test_timestream_day_windows_shift_around_bin() -> None:
    brt = spec(aggregate="mean", every="7d", timezone="America/Sao_Paulo")
    text = render(brt, "timestream").text
    # weeks start Monday 00:00 Brasília: 4 days (epoch Thursday → Monday) + 3 h
    binned = ("bin(\"time\" - parse_duration('99h'), parse_duration('7d')) + "
              "parse_duration('99h')")
    assert f"SELECT {binned} AS \"time\"" in text and f"GROUP BY {binned}," in text
    east = render(spec(aggregate="mean", every="1d", timezone="Asia/Kolkata"), "timestream").text
    assert ("bin(\"time\" + parse_duration('330m'), parse_duration('1d')) - "
            "parse_duration('330m')") in east
    assert "time(1d, -330m)" in render(spec(aggregate="mean", every="1d",
                                            timezone="Asia/Kolkata"), "influxql").text


@pytest.mark.parametrize("dialect", ["influxql", "flux", "sql"])
def test_golden_energy_with_filters(dialect: str) -> None:
    s = spec(aggregate="energy", where={"region": ["Norte", "NE"], "plant": 'it\'s "x"\\'},
             group_by=["source"], limit=100)
    assert render(s, dialect).text == GOLDEN_FILTERED[dialect]


def test_golden_top_influxql_uses_a_subquery() -> None:
    s = spec(aggregate="mean", group_by=["plant"], top=3)
    assert render(s, "influxql").text == (
        'SELECT top("power_mw", "plant", 3) AS "power_mw" FROM (SELECT mean("power_mw") AS '
        '"power_mw" FROM "generation_data" WHERE time >= \'2024-03-01T00:00:00Z\' AND time < '
        "'2024-03-31T00:00:00Z' GROUP BY \"plant\") LIMIT 10001")


# --------------------------------------------------------------------------- unsupported


@pytest.mark.parametrize(("kw", "dialect", "match"), [
    ({"aggregate": "mean", "every": "1h", "fill": "linear"}, "flux", "fill 'linear'"),
    ({"aggregate": "mean", "every": "1h", "fill": "null"}, "timestream", "fill 'null'"),
    ({"aggregate": "mean", "every": "1h", "fill": 0}, "timestream", "fill 0.0"),
    ({"aggregate": "mean", "every": "1h", "group_by": ["region"], "top": 2}, "influxql", "top/bottom"),
    ({"aggregate": "mean", "every": "1h", "group_by": ["region"], "top": 2}, "flux", "top/bottom"),
    ({"aggregate": "mean", "every": "1h", "group_by": ["region"], "bottom": 2}, "sql", "top/bottom"),
])
def test_unsupported_is_named_not_dropped(kw: dict[str, object], dialect: str, match: str) -> None:
    with pytest.raises(UnsupportedError, match=match) as info:
        render(spec(**kw), dialect)
    assert info.value.dialect == dialect
    assert isinstance(render_all(spec(**kw))[dialect], UnsupportedError)


def test_unknown_dialect() -> None:
    with pytest.raises(InvalidQuery, match="unknown dialect"):
        render(spec(), "mysql")


def test_read_only_net() -> None:
    g = Generator()
    with pytest.raises(InvalidQuery, match="non-read"):
        assert_read_only("influxql", 'SELECT * INTO "x" FROM "m"',
                         __import__("onsflux.query.render", fromlist=["x"]).InfluxQLGenerator.FORBIDDEN,
                         g.QUOTED)
    from onsflux.query.render import FluxGenerator

    with pytest.raises(InvalidQuery, match="non-read"):
        assert_read_only("flux", 'from(bucket: "a") |> to(bucket: "b")', FluxGenerator.FORBIDDEN,
                         g.QUOTED)
    assert_read_only("flux", 'from(bucket: "a") |> filter(fn: (r) => r.p == "|> to(")',
                     FluxGenerator.FORBIDDEN, g.QUOTED)


# --------------------------------------------------------------------------- matrix


def render_matrix() -> list[QuerySpec]:
    """Every aggregate x window x filters x group-by x fill x rank x order x nasty values."""
    out: list[QuerySpec] = []
    shapes: list[dict[str, object]] = [
        {},
        {"where": {"region": ["north", "south"]}, "group_by": ["source"]},
        {"where": {"plant": "itaipu", "source": "hydro"}},
        {"group_by": ["region", "plant"]},
    ]
    for agg, every, shape in itertools.product(AGGREGATES, (None, "1h", "1d", "15m"), shapes):
        out.append(spec(aggregate=agg, every=every, p=95 if agg == "percentile" else None,
                        **shape))
    for fill, agg in itertools.product(["null", "previous", "linear", 0, 2.5], ["mean", "count"]):
        out.append(spec(aggregate=agg, every="1h", fill=fill, where={"region": "north"}))
    out += [spec(), spec(order="desc", limit=5), spec(fields=["power_mw", "capacity_factor"]),
            spec(top=3), spec(bottom=2, where={"source": "solar"}),
            spec(aggregate="max", group_by=["plant"], top=5),
            spec(aggregate="energy", every="1d", top=1), spec(aggregate="min", bottom=4),
            spec(aggregate="mean", every="1d", fields=["power_mw", "capacity_factor"],
                 group_by=["region"], order="desc")]
    # whole-day windows in a zone: local-midnight offsets, both signs, with fills and ranks
    for tz, every, agg, fill in itertools.product(
            ("America/Sao_Paulo", "Asia/Kolkata"), ("1d", "7d"), ("mean", "sum", "last", "max"),
            ("none", "null", 0)):
        out.append(spec(aggregate=agg, every=every, timezone=tz, fill=fill,
                        group_by=["region"]))
    out += [spec(aggregate="energy", every="1d", timezone="America/Sao_Paulo", top=1),
            spec(aggregate="mean", every="1d", timezone="America/Sao_Paulo", order="desc",
                 start="2019-02-01", stop="2019-03-01")]
    out += [spec(aggregate="mean", where={"plant": v}) for v in NASTY]
    out += [spec(where={"plant": NASTY}, order="desc")]
    out += [template(n, T0, T1) for n in ("generation_trend", "consumption_peak",
                                          "transmission_losses")]
    return out


def _rendered(dialect: str) -> list[tuple[QuerySpec, str]]:
    pairs = []
    for s in render_matrix():
        try:
            pairs.append((s, render(s, dialect).text))
        except UnsupportedError:
            continue
    return pairs


def test_every_flux_of_the_matrix_passes_the_real_flux_checker() -> None:
    pairs = _rendered("flux")
    assert len(pairs) > 200
    verdicts = check_flux([text for _, text in pairs])
    bad = [(text, v.explain()) for (_, text), v in zip(pairs, verdicts, strict=True) if not v.valid]
    assert not bad, f"{len(bad)}/{len(pairs)} invalid Flux; first: {bad[0][0]}\n{bad[0][1]}"


def test_flux_checker_rejects_invalid_flux() -> None:
    """Negative controls: the checker cannot pass vacuously."""
    good = render(template("generation_trend", T0, T1), "flux").text
    broken = [
        good.replace("aggregateWindow(", "aggregateWindw("),  # unknown function
        good.replace("every: 1h", "every: \"1h\""),  # wrong type
        good.replace('r._field == "power_mw"', 'r._field == "power_mw'),  # unterminated string
        good.replace("|> limit(n: 10001)", "|> limit(n: 10001"),  # syntax
        'from(bucket: "a") |> range(start: 2024-01-01T00:00:00Z) |> filter(fn: (r) => r._value + "x")',
        # the original platform's injection: a value closing the string literal
        'from(bucket: "b") |> range(start: -1h) |> filter(fn: (r) => r.plant == "a" |> drop() "")',
    ]
    verdicts = check_flux([good, *broken])
    assert verdicts[0].valid, verdicts[0].explain()
    for text, v in zip(broken, verdicts[1:], strict=True):
        assert not v.valid, text
    assert "undefined identifier aggregateWindw" in verdicts[1].explain()  # and says why


def test_flux_checker_missing_fails_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import tests.support.flux as support

    monkeypatch.setattr(support, "PACKAGE", tmp_path / "nothing")
    with pytest.raises(support.FluxCheckerUnavailable, match="make fluxcheck"):
        support.check_flux(["x = 1"])


@pytest.mark.parametrize(("dialect", "read"), [("sql", "postgres"), ("sql", "duckdb"),
                                               ("timestream", "trino"), ("timestream", "presto")])
def test_every_sql_of_the_matrix_parses_with_sqlglot(dialect: str, read: str) -> None:
    pairs = _rendered(dialect)
    assert len(pairs) > 100
    for s, text in pairs:
        statements = sqlglot.parse(text, read=read, error_level=sqlglot.ErrorLevel.RAISE)
        assert len(statements) == 1, text
        tree = statements[0]
        assert isinstance(tree, sqlglot.exp.Select), text
        # tag values survive as literals, never as SQL
        for values in s.where.values():
            literals = {lit.this for lit in tree.find_all(sqlglot.exp.Literal) if lit.is_string}
            assert set(values) <= literals, (text, values)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("value", NASTY)
def test_nasty_values_stay_inside_one_literal(dialect: str, value: str) -> None:
    text = render(spec(aggregate="mean", where={"plant": value}), dialect).text
    gen = __import__("onsflux.query.render", fromlist=["GENERATORS"]).GENERATORS[dialect]()
    assert gen.literal(value) in text
    bare = gen.QUOTED.sub("''", text)
    assert value not in bare or value in ("\t",)


def test_timestream_multiple_measures_and_raw() -> None:
    text = render(spec(fields=["power_mw", "capacity_factor"]), "timestream").text
    assert "\"measure_name\" IN ('power_mw', 'capacity_factor')" in text
    assert '"measure_value::double"' in text


def test_influxql_percentile_and_energy_interval() -> None:
    s = spec(aggregate="percentile", p=99.5, every="1d")
    assert 'percentile("power_mw", 99.5) AS "power_mw"' in render(s, "influxql").text
    assert 'quantile(q: 0.995, method: "exact_selector"' in render(s, "flux").text
    e = spec(aggregate="energy", sample_interval="15m")
    assert 'sum("power_mw") * 0.25' in render(e, "influxql").text
