"""Line-protocol encoder: exact escaping, number formats, batching.

``parse_line`` below is a small reference parser written from the InfluxDB 1.x/2.x
parser's rules (``models/points.go``), independent of the encoder: in a measurement,
tag key or tag value a character counts as escaped when the *previous byte* is a
backslash, and only ``\\,`` ``\\=`` ``\\ `` are unescaped; in the field set a backslash
escapes the next byte and string values unescape ``\\\\`` and ``\\"``.
"""

from __future__ import annotations

import re
import struct

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onsflux.exceptions import EncodeError
from onsflux.ingest.encode import ESCAPES, Packed, batches, encode_lines, escape

# ------------------------------------------------------------------ reference parser

_TAG_UNESCAPE = re.compile(r"\\([,= ])")
_MEAS_UNESCAPE = re.compile(r"\\([, ])")
_GO_FLOAT = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INT = re.compile(r"-?\d+i")


class ParseError(ValueError):
    pass


def _scan_key_part(line: str, i: int, stops: str, bad: str = "") -> int:
    """Index of the first unescaped char in ``stops`` from ``i`` (previous-byte rule)."""
    while i < len(line):
        ch = line[i]
        escaped = i > 0 and line[i - 1] == "\\"
        if not escaped and ch in bad:
            raise ParseError(f"unescaped {ch!r} at {i}")
        if not escaped and ch in stops:
            return i
        i += 1
    raise ParseError("unexpected end of line")


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, object], int]:
    if not line or line[0] in ", #":
        raise ParseError("bad start")
    i = _scan_key_part(line, 1, ", ")
    measurement = _MEAS_UNESCAPE.sub(r"\1", line[:i])
    tags: dict[str, str] = {}
    while line[i] == ",":
        k0 = i + 1
        k1 = _scan_key_part(line, k0, "=", bad=", ")
        if k1 == k0:
            raise ParseError("empty tag key")
        v0 = k1 + 1
        v1 = _scan_key_part(line, v0, ", ", bad="=")
        if v1 == v0:
            raise ParseError("empty tag value")
        key = _TAG_UNESCAPE.sub(r"\1", line[k0:k1])
        if key in tags:
            raise ParseError("duplicate tag")
        tags[key] = _TAG_UNESCAPE.sub(r"\1", line[v0:v1])
        i = v1
    assert line[i] == " "
    i += 1
    fields: dict[str, object] = {}
    while True:
        k0 = i
        while line[i] != "=":
            i += 2 if line[i] == "\\" else 1
        key = _TAG_UNESCAPE.sub(r"\1", line[k0:i])
        i += 1
        if line[i] == '"':
            i += 1
            out = []
            while line[i] != '"':
                if line[i] == "\\" and line[i + 1] in '\\"':
                    out.append(line[i + 1])
                    i += 2
                else:
                    out.append(line[i])
                    i += 1
            i += 1
            value: object = "".join(out)
        else:
            v0 = i
            while line[i] not in ", ":
                i += 1
            text = line[v0:i]
            if _INT.fullmatch(text):
                value = int(text[:-1])
            elif text in ("t", "T", "true", "True", "TRUE"):
                value = True
            elif text in ("f", "F", "false", "False", "FALSE"):
                value = False
            elif _GO_FLOAT.fullmatch(text):
                value = float(text)
            else:
                raise ParseError(f"bad field value {text!r}")
        fields[key] = value
        if line[i] == " ":
            break
        assert line[i] == ","
        i += 1
    ts = line[i + 1 :]
    if not re.fullmatch(r"-?\d+", ts):
        raise ParseError(f"bad timestamp {ts!r}")
    return measurement, tags, fields, int(ts)


def one(measurement: str, row: dict, tags: list[str], fields: dict) -> str:
    frame = pl.DataFrame([row], schema=_schema(row, fields))
    return encode_lines(measurement, frame, tags, fields).item()


def _schema(row: dict, fields: dict) -> dict:
    types = {"float": pl.Float64, "integer": pl.Int64, "boolean": pl.Boolean, "string": pl.Utf8}
    return {k: (pl.Int64 if k == "time" else types[fields[k]] if k in fields else pl.Utf8)
            for k in row}


# ------------------------------------------------------------------ table-driven escaping

T0 = 1640995200000000000


@pytest.mark.parametrize(
    ("measurement", "expected_prefix"),
    [
        ("generation_data", "generation_data"),
        ("my measurement", r"my\ measurement"),
        ("a,b", r"a\,b"),
        ("a=b", "a=b"),  # '=' needs no escape in a measurement
        ('quo"te', 'quo"te'),
        ("geração", "geração"),
    ],
)
def test_measurement_escaping(measurement: str, expected_prefix: str) -> None:
    line = one(measurement, {"time": T0, "v": 1.0}, [], {"v": "float"})
    assert line == f"{expected_prefix} v=1.0 {T0}"
    assert parse_line(line)[0] == measurement


@pytest.mark.parametrize("bad", ["a\\b", "a\nb", "a\rb", "", "end\\"])
def test_measurement_not_representable(bad: str) -> None:
    with pytest.raises(EncodeError):
        one(bad, {"time": T0, "v": 1.0}, [], {"v": "float"})


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        ("itaipu", "itaipu"),
        ("a,b", r"a\,b"),
        ("a=b", r"a\=b"),
        ("a b", r"a\ b"),
        (" lead", r"\ lead"),
        ("trail ", r"trail\ "),
        (",", r"\,"),
        ("=", r"\="),
        ('say "hi"', r'say\ "hi"'),
        ("a\\b", "a\\b"),  # backslash written literally (1.x/2.x do not unescape \\)
        ("a\\\\b", "a\\\\b"),
        ("a\\,b", "a\\\\,b"),  # backslash then comma: both survive the round trip
        ("a\\ b", "a\\\\ b"),
        ("a\\=b", "a\\\\=b"),
        ("\\start", "\\start"),
        ("São Simão", r"São\ Simão"),
        ("Itá 🌊⚡", r"Itá\ 🌊⚡"),
        ("tab\there", "tab\there"),
    ],
)
def test_tag_value_escaping(value: str, spelled: str) -> None:
    line = one("m", {"time": T0, "plant": value, "v": 1.0}, ["plant"], {"v": "float"})
    assert line == f"m,plant={spelled} v=1.0 {T0}"
    assert parse_line(line) == ("m", {"plant": value}, {"v": 1.0}, T0)


@pytest.mark.parametrize(
    ("key", "spelled"),
    [("my key", r"my\ key"), ("k,1", r"k\,1"), ("k=1", r"k\=1"), ("chave_ç", "chave_ç")],
)
def test_tag_key_and_field_key_escaping(key: str, spelled: str) -> None:
    line = one("m", {"time": T0, key: "x", "f": 2.5}, [key], {"f": "float"})
    assert line == f"m,{spelled}=x f=2.5 {T0}"
    assert parse_line(line)[1] == {key: "x"}
    fkey = key + "_f"
    line = one("m", {"time": T0, fkey: 2.5}, [], {fkey: "float"})
    assert line == f"m {spelled}_f=2.5 {T0}"
    assert parse_line(line)[2] == {fkey: 2.5}


@pytest.mark.parametrize(("bad", "named"), [("a\nb", "a newline"), ("a\rb", "a carriage return"),
                                           ("ends\\", "ending with a backslash")])
def test_tag_value_not_representable_raises(bad: str, named: str) -> None:
    with pytest.raises(EncodeError, match=f"tag 'plant': 1 distinct values (with )?{named}"):
        one("m", {"time": T0, "plant": bad, "v": 1.0}, ["plant"], {"v": "float"})


@pytest.mark.parametrize("bad", ["k\n", "k\\", ""])
def test_tag_key_not_representable_raises(bad: str) -> None:
    with pytest.raises(EncodeError):
        one("m", {"time": T0, bad: "x", "v": 1.0}, [bad], {"v": "float"})


@pytest.mark.parametrize("bad", ["f\\x", "f\n"])
def test_field_key_not_representable_raises(bad: str) -> None:
    with pytest.raises(EncodeError):
        one("m", {"time": T0, bad: 1.0}, [], {bad: "float"})


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        ("plain", '"plain"'),
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("ends\\", r'"ends\\"'),
        ('\\"', r'"\\\""'),
        ("a,b c=d", '"a,b c=d"'),  # no escaping of , = space inside quotes
        ("line1\nline2", '"line1\nline2"'),  # literal newline allowed in string values
        ("", '""'),
        ("ção 🌊", '"ção 🌊"'),
    ],
)
def test_string_field_escaping(value: str, spelled: str) -> None:
    line = one("m", {"time": T0, "s": value}, [], {"s": "string"})
    assert line == f"m s={spelled} {T0}"
    assert parse_line(line)[2] == {"s": value}


def test_integer_boolean_and_timestamp_formats() -> None:
    frame = pl.DataFrame(
        {
            "time": [0, -1, -86400 * 10**9 * 365, 2**63 - 2],
            "n": [0, -5, 2**63 - 1, -(2**63)],
            "b": [True, False, None, True],
        }
    )
    lines = encode_lines("m", frame, [], {"n": "integer", "b": "boolean"}).to_list()
    assert lines == [
        "m n=0i,b=true 0",
        "m n=-5i,b=false -1",
        f"m n={2**63 - 1}i -31536000000000000",
        f"m n={-(2**63)}i,b=true {2**63 - 2}",
    ]
    for line in lines:
        parse_line(line)


def test_datetime_time_column_is_written_as_ns() -> None:
    frame = pl.DataFrame({"time": [T0 + 123]}).with_columns(
        pl.col("time").cast(pl.Datetime("ns", "UTC")), v=pl.lit(1.0)
    )
    assert encode_lines("m", frame, [], {"v": "float"}).item() == f"m v=1.0 {T0 + 123}"


@pytest.mark.parametrize(
    "x",
    [0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, -0.0, 0.0, 14000.0, 1e-7, 1e21,
     1e22, 123456789.123456789, -2.5e-310, 2.0**53 + 1, 1 / 3],
)
def test_float_round_trip(x: float) -> None:
    line = one("m", {"time": T0, "v": x}, [], {"v": "float"})
    text = line.split(" ")[1].removeprefix("v=")
    assert _GO_FLOAT.fullmatch(text), text  # Go's ParseFloat syntax, no inf/nan
    back = float(text)
    assert struct.pack("<d", back) == struct.pack("<d", x)  # bit-exact, keeps -0.0


def test_float32_column_is_widened_exactly() -> None:
    frame = pl.DataFrame({"time": [T0], "v": pl.Series([0.1], dtype=pl.Float32)})
    text = encode_lines("m", frame, [], {"v": "float"}).item().split(" ")[1][2:]
    assert float(text) == float(pl.Series([0.1], dtype=pl.Float32).cast(pl.Float64).item())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_inf_raise(bad: float) -> None:
    with pytest.raises(EncodeError, match="NaN|infinite"):
        one("m", {"time": T0, "v": bad}, [], {"v": "float"})


def test_tags_sorted_and_null_or_empty_tags_omitted() -> None:
    frame = pl.DataFrame(
        {
            "time": [1, 2, 3],
            "source": ["hydro", "wind", None],
            "region": ["south", None, ""],
            "plant": ["b", "a", "c"],
            "v": [1.0, 2.0, 3.0],
        }
    )
    lines = encode_lines("m", frame, ["source", "region", "plant"], {"v": "float"}).to_list()
    assert lines == [
        "m,plant=b,region=south,source=hydro v=1.0 1",
        "m,plant=a,source=wind v=2.0 2",
        "m,plant=c v=3.0 3",
    ]


def test_null_fields_omitted_in_any_position() -> None:
    frame = pl.DataFrame(
        {
            "time": [1, 2, 3, 4],
            "a": [None, 1.0, None, 1.5],
            "b": [2.0, None, None, None],
            "c": [3, 4, 5, None],
        }
    )
    fields = {"a": "float", "b": "float", "c": "integer"}
    lines = encode_lines("m", frame, [], fields).to_list()
    assert [parse_line(x)[2] for x in lines] == [
        {"b": 2.0, "c": 3},
        {"a": 1.0, "c": 4},
        {"c": 5},
        {"a": 1.5},
    ]
    assert all(",," not in x and " ," not in x and ", " not in x for x in lines)


def test_row_without_fields_raises() -> None:
    frame = pl.DataFrame({"time": [1, 2], "a": [1.0, None], "b": [None, None]},
                         schema={"time": pl.Int64, "a": pl.Float64, "b": pl.Float64})
    with pytest.raises(EncodeError, match="without any non-null field"):
        encode_lines("m", frame, [], {"a": "float", "b": "float"})


def test_null_time_raises_and_missing_columns_raise() -> None:
    frame = pl.DataFrame({"time": [None], "a": [1.0]}, schema={"time": pl.Int64, "a": pl.Float64})
    with pytest.raises(EncodeError, match="null time"):
        encode_lines("m", frame, [], {"a": "float"})
    with pytest.raises(EncodeError, match="missing"):
        encode_lines("m", frame, ["region"], {"a": "float"})


def test_empty_frame_and_extra_columns() -> None:
    empty = pl.DataFrame(schema={"time": pl.Int64, "a": pl.Float64})
    assert encode_lines("m", empty, [], {"a": "float"}).len() == 0
    frame = pl.DataFrame({"_row": [7], "time": [5], "a": [1.0], "junk": ["x"]})
    assert encode_lines("m", frame, [], {"a": "float"}).to_list() == ["m a=1.0 5"]


def test_design_doc_example() -> None:
    frame = pl.DataFrame(
        {"time": [T0], "region": ["southeast"], "source": ["hydro"], "plant": ["itaipu"],
         "power_mw": [14000.0], "capacity_factor": [0.85], "availability": [0.98]}
    )
    line = encode_lines(
        "generation_data", frame, ["region", "source", "plant"],
        {"power_mw": "float", "capacity_factor": "float", "availability": "float"},
    ).item()
    assert line == (
        "generation_data,plant=itaipu,region=southeast,source=hydro "
        f"power_mw=14000.0,capacity_factor=0.85,availability=0.98 {T0}"
    )


def test_escape_helper_matches_table() -> None:
    assert escape("a b,c=d", "tag_value") == r"a\ b\,c\=d"
    assert escape("a b,c=d", "measurement") == r"a\ b\,c=d"
    assert set(ESCAPES) == {"measurement", "tag_key", "tag_value", "field_key", "string_value"}


# ------------------------------------------------------------------ property-based

_SPECIAL = st.sampled_from([",", "=", " ", "\\", '"', "é", "ç", "🌊", "\t", "'", "#"])
_chars = st.characters(blacklist_categories=("Cs",))
_text = st.lists(st.one_of(_chars, _SPECIAL), max_size=12).map("".join)
_tag_value = _text.filter(
    lambda s: "\n" not in s and "\r" not in s and not s.endswith("\\")
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.integers(-(2**63) + 2, 2**63 - 2),
            st.one_of(st.none(), _tag_value),
            st.one_of(st.none(), _tag_value),
            st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
            st.one_of(st.none(), _text),
            st.one_of(st.none(), st.booleans()),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_property_round_trip(rows: list[tuple]) -> None:
    rows = [r for r in rows if any(v is not None for v in r[3:])]
    if not rows:
        return
    frame = pl.DataFrame(
        rows,
        schema={"time": pl.Int64, "tag a": pl.Utf8, "b,tag": pl.Utf8, "f=1": pl.Float64,
                "n": pl.Int64, "s": pl.Utf8, "ok": pl.Boolean},
        orient="row",
    )
    fields = {"f=1": "float", "n": "integer", "s": "string", "ok": "boolean"}
    lines = encode_lines("meas ure,ment", frame, ["tag a", "b,tag"], fields).to_list()
    for row, line in zip(rows, lines, strict=True):
        meas, tags, got_fields, ts = parse_line(line)
        assert meas == "meas ure,ment"
        assert ts == row[0]
        assert tags == {k: v for k, v in (("tag a", row[1]), ("b,tag", row[2])) if v}
        want = {k: v for k, v in zip(fields, row[3:], strict=True) if v is not None}
        assert got_fields.keys() == want.keys()
        for k, v in want.items():
            if isinstance(v, float):
                assert struct.pack("<d", got_fields[k]) == struct.pack("<d", v)
            else:
                assert got_fields[k] == v and type(got_fields[k]) is type(v)


#: lines without a newline, for the batching properties
LINES = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
            min_size=1, max_size=40),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    lines=LINES,
    max_lines=st.integers(1, 25),
    max_bytes=st.integers(1, 300),
)
def test_property_batches_cover_rows_once_within_limits(
    lines: list[str], max_lines: int, max_bytes: int
) -> None:
    series = pl.Series("line", lines, dtype=pl.Utf8)
    got = list(batches(series, max_lines, max_bytes))
    expected_start = 0
    for start, stop, body in got:
        assert start == expected_start and stop > start
        assert body == "\n".join(lines[start:stop]).encode()
        assert stop - start <= max_lines
        if stop - start > 1:
            assert len(body) <= max_bytes
        # greedy: the next line would not have fitted
        if stop < len(lines) and stop - start < max_lines:
            assert len(body) + 1 + len(lines[stop].encode()) > max_bytes
        expected_start = stop
    assert expected_start == len(lines)


def test_batches_oversize_line_goes_alone() -> None:
    series = pl.Series(["a" * 10, "b" * 500, "c" * 10, "d" * 10])
    got = [(a, b, len(body)) for a, b, body in batches(series, 100, 25)]
    assert got == [(0, 1, 10), (1, 2, 500), (2, 4, 21)]


def test_batches_limits_and_errors() -> None:
    series = pl.Series([f"line{i}" for i in range(10)])
    assert [(a, b) for a, b, _ in batches(series, 3, 10_000)] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert list(batches(pl.Series([], dtype=pl.Utf8), 3, 100)) == []
    with pytest.raises(EncodeError):
        list(batches(pl.Series(["a", None]), 3, 100))
    with pytest.raises(ValueError):
        list(batches(series, 0, 100))


def test_batches_count_bytes_not_characters() -> None:
    series = pl.Series(["é" * 5, "é" * 5])  # 10 bytes each
    assert [(a, b) for a, b, _ in batches(series, 10, 20)] == [(0, 1), (1, 2)]
    assert [(a, b) for a, b, _ in batches(series, 10, 21)] == [(0, 2)]


def test_large_frame_is_exact_and_ordered() -> None:
    n = 60_000
    frame = pl.DataFrame(
        {
            "time": pl.int_range(0, n, eager=True) * 10**9,
            "region": pl.Series(["north", "south", None, "sin"] * (n // 4)),
            "v": pl.int_range(0, n, eager=True).cast(pl.Float64) / 7,
        }
    )
    lines = encode_lines("m", frame, ["region"], {"v": "float"})
    assert lines.len() == n
    for i in (0, 2, 4999, 33_333, n - 1):
        _, tags, fields, ts = parse_line(lines[i])
        assert ts == i * 10**9
        assert fields["v"] == frame["v"][i]
        assert tags == ({} if i % 4 == 2 else {"region": frame["region"][i]})


@settings(max_examples=300, deadline=None)
@given(
    lines=LINES,
    max_lines=st.integers(1, 25),
    max_bytes=st.integers(1, 300),
    offset=st.integers(0, 5),
)
def test_property_packed_bodies_are_the_lines_within_limits(
    lines: list[str], max_lines: int, max_bytes: int, offset: int
) -> None:
    """The zero-copy bodies the pipeline sends: every line once, in order, each with its
    newline, within the limits (a longer line alone), also from a sliced Series."""
    series = pl.Series("line", ["x"] * offset + [f"{t}\n" for t in lines], dtype=pl.Utf8)
    packed = Packed(series.slice(offset))
    assert len(packed) == len(lines)
    at = 0
    for start, stop in packed.cuts(max_lines, max_bytes):
        body = bytes(packed.body(start, stop))
        assert start == at and stop > start and stop - start <= max_lines
        assert body == "".join(f"{t}\n" for t in lines[start:stop]).encode()
        assert stop - start == 1 or len(body) <= max_bytes
        if stop < len(lines) and stop - start < max_lines:  # greedy
            assert len(body) + len(lines[stop].encode()) + 1 > max_bytes
        assert packed.lines(start, stop).to_list() == lines[start:stop]
        at = stop
    assert at == len(lines)


def test_packed_refuses_null_lines_and_bad_limits() -> None:
    with pytest.raises(EncodeError):
        Packed(pl.Series(["a\n", None]))
    with pytest.raises(ValueError):
        list(Packed(pl.Series(["a\n"])).cuts(0, 10))


def test_terminated_validated_lines_equal_the_checked_ones() -> None:
    """``validated=True`` skips checks validation already made, not output: the lines are
    the same bytes plus the newline."""
    frame = pl.DataFrame({"time": [1, 2], "region": ["north", None], "power_mw": [1.5, 2.0]})
    plain = encode_lines("generation_data", frame, ["region"], {"power_mw": "float"})
    fast = encode_lines("generation_data", frame, ["region"], {"power_mw": "float"},
                        validated=True, terminated=True)
    assert fast.to_list() == [f"{line}\n" for line in plain.to_list()]
