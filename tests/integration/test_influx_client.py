"""InfluxClient against a real influxd 1.6.7 started the way ``onsflux local up`` does.

These tests also pin down what 1.6.7 really does with partial writes and escaping; the
findings are documented in ``onsflux.influx.errors`` and the encoder relies on them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from onsflux.exceptions import (
    CircuitOpen,
    ConfigError,
    QueryError,
    ServerUnavailable,
    WriteRejected,
)
from onsflux.influx import InfluxClient, ServerHandle
from onsflux.settings import Settings
from tests.support.influx import start_influxd, stop_influxd

pytestmark = pytest.mark.integration

T0 = 1_640_995_200_000_000_000  # 2022-01-01T00:00:00Z
_names = itertools.count()


@pytest.fixture(scope="module")
def client(influx_server: ServerHandle) -> Iterator[InfluxClient]:
    with InfluxClient(Settings(gzip="off"), influx_server.url) as c:
        yield c


@pytest.fixture
def db(client: InfluxClient) -> str:
    name = f"t{next(_names)}"
    client.ensure_database(name)
    return name


def lp(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def rows(client: InfluxClient, db: str, q: str) -> list[dict[str, object]]:
    return client.query_points(q, db)


# --------------------------------------------------------------------------- basics


def test_ping_detects_1x(client: InfluxClient) -> None:
    info = client.ping()
    assert info.kind == "1.x"
    assert info.version.startswith("1.6.7")
    assert info.build == "OSS"


def test_ensure_database_is_idempotent_with_2555d(client: InfluxClient) -> None:
    first = client.ensure_database("gen_idem")
    second = client.ensure_database("gen_idem")
    assert first.created and not second.created
    policies = client.retention_policies("gen_idem")
    assert policies == [
        {
            "name": "onsflux",
            "duration": "61320h0m0s",  # 2555d
            "shardGroupDuration": "168h0m0s",
            "replicaN": 1,
            "default": True,
        }
    ]


def test_ensure_database_lengthens_but_never_shortens(client: InfluxClient) -> None:
    client.ensure_database("gen_rp", "30d")
    client.ensure_database("gen_rp", "2555d")  # lengthen: allowed
    [rp] = client.retention_policies("gen_rp")
    assert rp["duration"] == "61320h0m0s" and rp["default"]
    with pytest.raises(ConfigError, match="would delete data"):
        client.ensure_database("gen_rp", "30d")


def test_ensure_database_leaves_foreign_default_policy(client: InfluxClient) -> None:
    client.query('CREATE DATABASE "foreign"')  # autogen, infinite
    info = client.ensure_database("foreign")
    assert info.retention_policy == "autogen"
    assert [p["name"] for p in client.retention_policies("foreign")] == ["autogen"]


def test_write_and_read_back_every_field_type(client: InfluxClient, db: str) -> None:
    body = lp(
        f'types,plant=itaipu f=1.5,i=-42i,b=true,s="say \\"hi\\" c:\\\\dir" {T0}',
        f"types,plant=itaipu f=1e-07,i=9223372036854775807i,b=F,s=\"\" {T0 + 1}",
        f"types,plant=itaipu f=1E+20,b=FALSE {T0 + 2}",
        f"types,plant=itaipu f=-0.0,b=t {T0 + 3}",
    )
    outcome = client.write(db, body, lines=4)
    assert outcome.ok and outcome.status == 204 and outcome.attempts == 1
    got = rows(client, db, "SELECT * FROM types")
    assert got == [
        {"time": T0, "b": True, "f": 1.5, "i": -42, "plant": "itaipu", "s": 'say "hi" c:\\dir'},
        {"time": T0 + 1, "b": False, "f": 1e-07, "i": 9223372036854775807, "plant": "itaipu",
         "s": ""},
        {"time": T0 + 2, "b": False, "f": 1e20, "i": None, "plant": "itaipu", "s": None},
        {"time": T0 + 3, "b": True, "f": 0.0, "i": None, "plant": "itaipu", "s": None},
    ]


def test_tag_escaping_as_1_6_7_does_it(client: InfluxClient, db: str) -> None:
    """Tag values: ``\\,`` ``\\ `` ``\\=`` are unescaped; a backslash is otherwise literal
    (``\\\\`` stays two backslashes); a value cannot end with a backslash."""
    cases = {
        r"a\,b\ c\=d": "a,b c=d",
        r"x\\y": "x\\\\y",  # NOT unescaped: two backslashes stored
        r"x\y": "x\\y",
        r"x\\,y": "x\\,y",  # only the "\," pair is unescaped
        'q"u\'te': 'q"u\'te',
        "são paulo".replace(" ", "\\ "): "são paulo",
    }
    body = lp(*(f"esc,t={wire} v={n}i {T0 + n}" for n, wire in enumerate(cases)))
    assert client.write(db, body, lines=len(cases)).ok
    got = {r["v"]: r["t"] for r in rows(client, db, "SELECT v, t FROM esc")}
    assert got == {n: stored for n, stored in enumerate(cases.values())}

    with pytest.raises(WriteRejected, match="invalid tag format"):
        client.write(db, lp(f"esc,t=ends\\ v=1i {T0}"), lines=1)
    with pytest.raises(WriteRejected, match="invalid tag format"):
        client.write(db, lp(f"esc,t=a=b v=1i {T0}"), lines=1)  # '=' must be escaped


def test_influxql_quoting_round_trip(client: InfluxClient, db: str) -> None:
    """quote_ident / quote_literal survive quotes and backslashes in names and values."""
    from onsflux.influx import quote_ident, quote_literal

    assert client.write(db, lp(f'we\\ird\\,m,k\\=ey=it\'s\\"x v=1i {T0}'), lines=1).ok
    measurements = [r["name"] for r in rows(client, db, "SHOW MEASUREMENTS")]
    assert measurements == ["we\\ird,m"]
    measurement = "we\\ird,m"
    tag_value = "it's\\\"x"
    q = (
        f"SELECT v FROM {quote_ident(measurement)} "
        f"WHERE {quote_ident('k=ey')} = {quote_literal(tag_value)}"
    )
    assert [r["v"] for r in rows(client, db, q)] == [1]


@pytest.mark.parametrize("value", ["inf", "+Inf", "-inf", "NaN", "nan", "+1.5", "1e400"])
def test_non_finite_and_odd_floats_rejected(client: InfluxClient, db: str, value: str) -> None:
    with pytest.raises(WriteRejected, match="unable to parse"):
        client.write(db, lp(f"floats f={value} {T0}"), lines=1)


@pytest.mark.parametrize("value", ["1e-07", "1E+20", "1.5e300", ".5", "5.", "-0.0", "1"])
def test_float_formats_accepted(client: InfluxClient, db: str, value: str) -> None:
    assert client.write(db, lp(f"floats f={value} {T0}"), lines=1).ok


# --------------------------------------------------------------------------- partial writes


def test_type_conflict_is_a_partial_write(client: InfluxClient, db: str) -> None:
    assert client.write(db, lp(f"generation_data,plant=a power_mw=1.5 {T0}"), lines=1).ok
    body = lp(
        f"generation_data,plant=a power_mw=2.5 {T0 + 1}",
        f"generation_data,plant=a power_mw=3i {T0 + 2}",
        f'generation_data,plant=a power_mw="x" {T0 + 3}',
        f"generation_data,plant=a power_mw=4.5 {T0 + 4}",
    )
    outcome = client.write(db, body, lines=4)
    assert outcome.status == 400
    [err] = outcome.errors
    assert err.kind == "field_type_conflict"
    assert (err.field, err.measurement) == ("power_mw", "generation_data")
    assert (err.input_type, err.existing_type) == ("integer", "float")  # first one named
    assert err.dropped == 2  # ...but both conflicting points counted
    assert outcome.written == 2
    got = [r["power_mw"] for r in rows(client, db, "SELECT power_mw FROM generation_data")]
    assert got == [1.5, 2.5, 4.5]


def test_conflict_inside_body_on_new_measurement_refuses_everything(
    client: InfluxClient, db: str
) -> None:
    body = lp(
        f"other v=1.0 {T0}",
        f"fresh f=1.5 {T0}",
        f"fresh f=2i {T0 + 1}",
    )
    with pytest.raises(WriteRejected) as info:
        client.write(db, body, lines=3)
    assert info.value.status == 400
    assert "field type conflict" in info.value.body
    assert rows(client, db, "SELECT * FROM other") == []


def test_beyond_retention_is_a_partial_write(client: InfluxClient, db: str) -> None:
    old = 631_152_000_000_000_000  # 1990-01-01, beyond 2555d
    body = lp(f"ret v=1i {old}", f"ret v=2i {T0}", f"ret v=3i {old + 1}")
    outcome = client.write(db, body, lines=3)
    [err] = outcome.errors
    assert err.kind == "beyond_retention"
    assert err.dropped == 2
    assert [r["v"] for r in rows(client, db, "SELECT v FROM ret")] == [2]


def test_unparseable_lines_are_a_partial_write(client: InfluxClient, db: str) -> None:
    bad1 = f"parse,a=1 f=bad {T0 + 1}"
    bad2 = f"parse,a=1 f=1.5 {T0}x"
    body = lp(f"parse,a=1 f=1.5 {T0}", bad1, bad2, f"parse,a=1 f=2.5 {T0 + 3}")
    outcome = client.write(db, body, lines=4)
    assert [e.kind for e in outcome.errors] == ["unable_to_parse", "unable_to_parse"]
    assert [e.line for e in outcome.errors] == [bad1, bad2]
    assert [e.reason for e in outcome.errors] == ["invalid boolean", "bad timestamp"]
    assert outcome.dropped == 2 and outcome.written == 2
    assert [r["f"] for r in rows(client, db, "SELECT f FROM parse")] == [1.5, 2.5]


def test_all_lines_unparseable_is_rejected(client: InfluxClient, db: str) -> None:
    from onsflux.influx import parse_write_errors

    with pytest.raises(WriteRejected) as info:
        client.write(db, lp("nofields", f"x f=yes {T0}"), lines=2)
    errors = parse_write_errors(info.value.body)
    assert [e.kind for e in errors] == ["unable_to_parse", "unable_to_parse"]
    assert errors[0].reason == "missing fields"


def test_mixed_problems_report_only_the_conflict(client: InfluxClient, db: str) -> None:
    """1.6.7 drops a parse error silently when the same body has a type conflict."""
    assert client.write(db, lp(f"mix f=1.5 {T0}"), lines=1).ok
    outcome = client.write(db, lp(f"mix f=bad {T0 + 1}", f"mix f=1i {T0 + 2}",
                                  f"mix f=2.5 {T0 + 3}"), lines=3)
    assert [e.kind for e in outcome.errors] == ["field_type_conflict"]
    assert outcome.dropped == 1  # the unparseable line is not counted by the server
    assert [r["f"] for r in rows(client, db, "SELECT f FROM mix")] == [1.5, 2.5]


def test_long_series_key_rejected(client: InfluxClient, db: str) -> None:
    ok = "k,t=" + "x" * 65000
    assert client.write(db, lp(f"{ok} v=1i {T0}"), lines=1).ok
    too_long = "k,t=" + "x" * 65532  # series key "k,t=..." > 65535 bytes
    with pytest.raises(WriteRejected, match="max key length exceeded"):
        client.write(db, lp(f"{too_long} v=1i {T0}"), lines=1)


def test_missing_database_is_404(client: InfluxClient) -> None:
    with pytest.raises(WriteRejected) as info:
        client.write("does_not_exist", lp(f"m v=1i {T0}"), lines=1)
    assert info.value.status == 404
    assert "ensure_database" in str(info.value)


# --------------------------------------------------------------------------- queries


def test_query_errors(client: InfluxClient, db: str) -> None:
    with pytest.raises(QueryError, match="error parsing query"):
        client.query("SELECT * FRM m", db=db)
    with pytest.raises(QueryError, match="database not found"):
        client.query("SELECT * FROM m", db="nope")


def test_delete_range_with_tags(client: InfluxClient, db: str) -> None:
    body = lp(*(f"del,plant={p} v={i}i {T0 + i}" for p in ("a", "b\\ c") for i in range(5)))
    assert client.write(db, body, lines=10).ok
    client.delete_range(db, "del", T0 + 1, T0 + 3, {"plant": "b c"})
    got = [(r["plant"], r["v"]) for r in rows(client, db, "SELECT v, plant FROM del")]
    assert sorted(got) == sorted(
        [("a", i) for i in range(5)] + [("b c", 0), ("b c", 3), ("b c", 4)]
    )
    client.delete_range(db, "del", T0, T0 + 10)
    assert rows(client, db, "SELECT v FROM del") == []


# --------------------------------------------------------------------------- transport


def test_gzip_write_against_real_server(influx_server: ServerHandle, db: str) -> None:
    with InfluxClient(Settings(gzip="on"), influx_server.url) as gz:
        body = lp(*(f"gz v={i}i {T0 + i}" for i in range(1000)))
        assert gz.write(db, body, lines=1000).ok
        [row] = gz.query_points("SELECT count(v) FROM gz", db)
        assert row["count"] == 1000


def test_concurrent_writes_from_a_thread_pool(client: InfluxClient, db: str) -> None:
    def batch(n: int) -> int:
        body = lp(*(f"conc,w=w{n} v={i}i {T0 + i}" for i in range(500)))
        return client.write(db, body, lines=500).written

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sum(pool.map(batch, range(16))) == 16 * 500
    [row] = client.query_points("SELECT count(v) FROM conc", db)
    assert row["count"] == 16 * 500


def test_server_stopped_retries_then_unavailable_and_breaker_opens(
    tmp_path: Path,
) -> None:
    handle = start_influxd(tmp_path)
    sleeps: list[float] = []
    settings = Settings(
        max_attempts=3, backoff_base_seconds=0.01, backoff_max_seconds=0.02,
        breaker_failures=2, breaker_reset_seconds=60, timeout_seconds=2,
    )
    with InfluxClient(settings, handle.url, sleep=sleeps.append) as c:
        c.ensure_database("down")
        assert c.write("down", lp(f"m v=1i {T0}"), lines=1).ok
        assert stop_influxd(tmp_path)
        for _ in range(2):
            with pytest.raises(ServerUnavailable) as info:
                c.write("down", lp(f"m v=2i {T0}"), lines=1)
            assert "after 3 attempt(s)" in str(info.value)
            assert info.value.__cause__ is not None
        assert len(sleeps) == 4
        assert c.breaker.state == "open"
        with pytest.raises(CircuitOpen):
            c.write("down", lp(f"m v=3i {T0}"), lines=1)
        assert len(sleeps) == 4
