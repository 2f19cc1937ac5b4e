"""``onsflux bench`` runs benchmarks of the installed package, never code in the cwd."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from onsflux.cli.app import _bench_module, app


def test_a_bench_folder_in_the_current_directory_is_not_imported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "__init__.py").write_text("")
    (tmp_path / "bench" / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('x')\ndef run(repeats=1): return {{}}\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["bench", "evil", "--json"])
    assert result.exit_code == 1
    assert "no benchmark 'evil'" in result.output and "encode" in result.output
    assert not marker.exists()


def test_benchmarks_come_from_the_package_and_helpers_are_not_benchmarks() -> None:
    module = _bench_module("encode")
    assert module.__name__ == "onsflux.bench.encode" and callable(module.run)
    result = CliRunner().invoke(app, ["bench", "common"])
    assert result.exit_code == 1 and "no benchmark 'common'" in result.output


def test_the_original_suite_is_a_benchmark_with_duration_and_rate() -> None:
    """`onsflux bench seed --duration … --rate …` (issue 12) must reach the suite's run()."""
    import inspect

    module = _bench_module("seed")
    params = inspect.signature(module.run).parameters
    assert {"duration", "rate", "url", "readers", "writers"} <= set(params)
    result = CliRunner().invoke(app, ["bench", "encode", "--duration", "5"])
    assert result.exit_code == 1 and "--duration does not apply" in result.output


def test_the_seed_suite_is_a_benchmark() -> None:
    """``onsflux bench seed`` (its ``--duration``/``--rate`` options exist for it) resolves."""
    module = _bench_module("seed")
    assert module.__name__ == "onsflux.bench.seed" and callable(module.run)
