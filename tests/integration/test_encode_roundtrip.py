"""What the encoder writes, the real server reads back identically.

Every field type and every escaping case goes through ``encode_lines`` → ``/write`` →
``SELECT`` on influxd 1.6.7 and must come back equal: tag values and string fields
byte for byte, floats bit for bit, integers beyond 2^53 exactly.
"""

from __future__ import annotations

import math
import random
import struct

import polars as pl
import pytest

from onsflux.influx import InfluxClient
from onsflux.ingest.encode import batches, encode_lines

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000_000_000

TAG_VALUES = [
    "plain", "with,comma", "with space", "with=equals", 'say "hi"', "it's", "back\\slash",
    "a\\,b", "a\\ b", "trailing space ", " leading", "tab\there", "Tucuruí ção", "🔥⚡ emoji",
    "x" * 1000, "semi;colon", "pipe|>gt", "{json: [1]}", "=start", ",start",
]
STRINGS = [
    "", 'quote " inside', "back\\slash", 'both \\" mixed', "line\nbreak", "tab\t", "ç 🔥",
    "trailing backslash\\", "\\", '"', "x" * 10_000, "comma, equals= space ",
]


def _readback(influx: InfluxClient, db: str, measurement: str) -> list[dict[str, object]]:
    return influx.query_points(f'SELECT * FROM "{measurement}" GROUP BY *', db)


def test_tags_and_every_field_type_round_trip(influx: InfluxClient) -> None:
    rng = random.Random(42)
    n = max(len(TAG_VALUES), len(STRINGS))
    floats = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(4 * n)]
    floats = [f for f in floats if math.isfinite(f)][: n - 6] + [
        0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, -0.0, 14000.0]
    frame = pl.DataFrame({
        "time": [T0 + i * 1_000_000_007 for i in range(n)],
        "site": [TAG_VALUES[i % len(TAG_VALUES)] for i in range(n)],
        "kind, with=odd key": ["k"] * n,
        "f": floats,
        "i": [2**53 + 1, -(2**63), 2**63 - 1, 0, -1] + [rng.randrange(-(2**62), 2**62)
                                                       for _ in range(n - 5)],
        "b": [i % 2 == 0 for i in range(n)],
        "s": [STRINGS[i % len(STRINGS)] for i in range(n)],
    })
    measurement = "odd measurement,name"
    lines = encode_lines(measurement, frame, ["site", "kind, with=odd key"],
                         {"f": "float", "i": "integer", "b": "boolean", "s": "string"})
    influx.ensure_database("roundtrip")
    for start, stop, body in batches(lines, 7, 1 << 20):
        outcome = influx.write("roundtrip", body, lines=stop - start)
        assert outcome.ok, outcome.errors

    got = {int(r["time"]): r for r in _readback(influx, "roundtrip", measurement)}  # type: ignore[call-overload]
    assert len(got) == n
    for row in frame.iter_rows(named=True):
        r = got[row["time"]]
        assert r["site"] == row["site"]
        assert r["kind, with=odd key"] == "k"
        assert struct.pack("d", r["f"]) == struct.pack("d", row["f"]) or (
            row["f"] == 0.0 and r["f"] == 0.0)  # InfluxDB may print -0.0 as 0
        assert r["i"] == row["i"] and isinstance(r["i"], int)
        assert r["b"] is row["b"]
        assert r["s"] == row["s"]
