"""Source-side verify statistics (chunked, merged, stored) and the chunked UNLOAD reader."""

from __future__ import annotations

import math
import random
from pathlib import Path

import polars as pl

from onsflux.migrate.aggregates import SourceAggregator, dumps, loads
from onsflux.migrate.export import write_unload
from onsflux.migrate.state import DONE, FAILED, MigrationStore, Partition
from onsflux.settings import Settings
from onsflux.sources.unload import discover, iter_file, read_file

H = 3_600_000_000_000
T0 = 1_704_067_200_000_000_000


def _frame(n: int, seed: int = 1) -> pl.DataFrame:
    rng = random.Random(seed)
    return pl.DataFrame({
        "time": [T0 + i for i in range(n)],
        "region": [rng.choice(["n", "s", None]) for _ in range(n)],
        "plant": [rng.choice(["a", "b, c"]) for _ in range(n)],
        "big": [rng.choice([None, 2**63 - 1 - rng.randrange(9), -(2**63) + rng.randrange(9)])
                for _ in range(n)],
        "power": [None if rng.random() < 0.1 else rng.uniform(-1e6, 1e6) for _ in range(n)],
        "label": [rng.choice(["x", None]) for _ in range(n)],
    }, schema_overrides={"big": pl.Int64})


TYPES = {"big": "integer", "power": "float", "label": "string"}


def _expected(frame: pl.DataFrame) -> dict:
    out: dict = {}
    for row in frame.iter_rows(named=True):
        key = tuple(sorted((t, row[t]) for t in ("region", "plant") if row[t] is not None))
        for f in TYPES:
            v = row[f]
            if v is None:
                continue
            s = out.setdefault(key, {}).setdefault(f, {"count": 0})
            s["count"] += 1
            if f != "label":
                s["sum"] = s.get("sum", 0) + v
                s["min"] = min(s.get("min", v), v)
                s["max"] = max(s.get("max", v), v)
    return out


def test_chunked_statistics_are_exact_and_round_trip() -> None:
    frame = _frame(3000)
    stats = SourceAggregator()
    for start in range(0, 3000, 700):  # chunks: a series spans several of them
        stats.add(frame.slice(start, 700), ["region", "plant"], TYPES)
    got = stats.result()
    want = _expected(frame)
    assert set(got) == set(want)
    for key, per in want.items():
        for f, s in per.items():
            g = got[key][f]
            assert g["count"] == s["count"]
            if f == "big":  # exact, far beyond int64 (Python int)
                assert (g["sum"], g["min"], g["max"]) == (s["sum"], s["min"], s["max"])
                assert abs(g["sum"]) > 2**63 or s["count"] < 3
            elif f == "power":
                assert (g["min"], g["max"]) == (s["min"], s["max"])
                assert math.isclose(g["sum"], s["sum"], rel_tol=1e-9, abs_tol=1e-9 * g["abs"])
    again, types, rejected = loads(dumps(got, stats.types, 7))
    assert again == got and types == TYPES and rejected == 7


def test_statistics_are_kept_only_for_the_attempt_that_made_the_partition_done(
        tmp_path: Path) -> None:
    store = MigrationStore(tmp_path / "s.sqlite")
    p = Partition("m", "p1", "t", "b", "m", 0, 10)
    store.add_partition(p)
    claimed = store.claim("m", "p1")
    assert claimed is not None
    claimed.status = DONE
    store.finish(claimed, b"blob", [("f", 3)])
    done = store.get("m", "p1")
    assert done is not None and store.aggregates(done) == (b"blob", [("f", 3)])
    # run again (another attempt) and fail: the old statistics are gone
    store.mark_rolled_back("m", "p1", {})
    again = store.claim("m", "p1")
    assert again is not None and store.aggregates(again) is None
    again.status = FAILED
    store.finish(again, b"other", [("f", 3)])
    failed = store.get("m", "p1")
    assert failed is not None and store.aggregates(failed) is None
    store.close()


def test_iter_file_pieces_equal_read_file(tmp_path: Path) -> None:
    n = 1000
    frame = pl.DataFrame({"region": ["n"] * n, "measure_name": ["m"] * n,
                          "time": [T0 + i * H // 10 for i in range(n)],
                          "power": [float(i) for i in range(n)]})
    types = {"region": "VARCHAR", "measure_name": "VARCHAR", "time": "TIMESTAMP",
             "power": "DOUBLE"}
    write_unload(tmp_path / "e", "generation_data", frame, types, fmt="PARQUET",
                 row_group_size=100)
    s = Settings()
    export = discover(str(tmp_path / "e"), s, ["generation_data"])[0]
    f = export.files[0]
    window = (T0 + 15 * H, T0 + 55 * H)  # row groups 1..5, partly
    whole = read_file(export, f, s, window=window)
    pieces = list(iter_file(export, f, s, window=window, max_rows=250))
    assert len(pieces) == 3  # 5 row groups of 100 rows, 2 per piece
    assert pl.concat(pieces).equals(whole)
    assert whole["_row"].to_list() == list(range(151, 551))
    empty = list(iter_file(export, f, s, window=(0, 1), max_rows=250))
    assert len(empty) == 1 and empty[0].height == 0
