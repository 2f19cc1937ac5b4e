"""Listing local files and folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from onsflux.exceptions import SourceError
from onsflux.settings import Settings
from onsflux.sources import list_objects
from onsflux.sources.objects import split_s3, wanted


def test_folder_is_recursive_sorted_and_skips_hidden_and_other_files(tmp_path: Path) -> None:
    for rel in ("b/2.csv", "b/1.parquet", "a.csv.gz", "z.txt", "notes.md", ".hidden.csv",
                ".cache/x.csv", "c/.d/y.parquet", "c/UPPER.CSV"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    refs = list_objects([str(tmp_path)], Settings())
    assert [Path(r.url).relative_to(tmp_path).as_posix() for r in refs] == [
        "a.csv.gz", "b/1.parquet", "b/2.csv", "c/UPPER.CSV", "z.txt"]
    assert all(r.size == 1 and r.mtime_ns > 0 and r.etag is None for r in refs)
    assert refs[0].fingerprint.startswith("size:1:mtime:")


def test_explicit_file_any_name_and_dedup(tmp_path: Path) -> None:
    f = tmp_path / "data.dat"
    f.write_text("abc")
    refs = list_objects([str(f), f"file://{f}", str(tmp_path)], Settings())
    assert [r.url for r in refs] == [str(f.resolve())]  # folder listing skips .dat


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(SourceError, match="nope.csv.*no such file"):
        list_objects([str(missing)], Settings())


def test_split_s3_and_suffixes() -> None:
    assert split_s3("s3://bucket/a/b.csv") == ("bucket", "a/b.csv")
    assert split_s3("s3://bucket") == ("bucket", "")
    with pytest.raises(SourceError):
        split_s3("s3:///key")
    assert wanted("x.CSV.GZ") and not wanted(".x.csv") and not wanted("x.json")
