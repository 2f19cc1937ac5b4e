"""The pure core loads no I/O, and old package-level imports still resolve (lazily)."""

from __future__ import annotations

import subprocess
import sys

IO_MODULES = ("httpx", "boto3", "botocore", "sqlite3", "onsflux.influx.client",
              "onsflux.influx.local", "onsflux.query.execute", "onsflux.query.fallback",
              "onsflux.sources.objects", "onsflux.settings", "onsflux.sample")


def _loaded_after(statement: str) -> list[str]:
    code = (f"import sys\n{statement}\n"
            f"print(' '.join(m for m in {IO_MODULES!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_question_parser_and_renderer_import_no_io() -> None:
    assert _loaded_after("import onsflux.answer.parse, onsflux.query.render, onsflux.answer.compose") == []


def test_packages_load_no_io_until_an_io_name_is_used() -> None:
    assert _loaded_after("import onsflux.query, onsflux.sources, onsflux.influx") == []
    assert "onsflux.query.execute" in _loaded_after("from onsflux.query import Executor")


def test_old_package_imports_resolve_to_the_defining_modules() -> None:
    import onsflux.influx as influx
    import onsflux.query as query
    import onsflux.sources as sources
    from onsflux.influx.client import InfluxClient
    from onsflux.query.execute import Executor
    from onsflux.sources.objects import list_objects

    assert influx.InfluxClient is InfluxClient
    assert query.Executor is Executor
    assert sources.list_objects is list_objects
    try:
        influx.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("unknown names must raise AttributeError")
