"""Commands of ``onsflux``. Each opens the library object, calls one method, shows the result."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import ValidationError

from ..exceptions import OnsfluxError
from ..redact import redact
from ..settings import Settings

# the shared pieces live in _common; the "X as X" names stay importable from here for
# subcommand modules written before it (new ones import _common)
from ._common import EXIT_FAILED as EXIT_FAILED
from ._common import EXIT_REJECTS as EXIT_REJECTS
from ._common import EXIT_USAGE as EXIT_USAGE
from ._common import JsonOpt as JsonOpt
from ._common import client as _client
from ._common import friendly as friendly
from ._common import settings as settings
from ._common import store as _store
from ._common import use_settings
from .output import (
    bar_lines,
    console,
    emit_json,
    err_console,
    fmt_int,
    print_error,
    styled,
    table,
    unit_progress,
)

app = typer.Typer(
    help="Move ONS electricity time series onto InfluxDB and answer questions about them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts show literal [brackets] (e.g. URL syntax)
)
local_app = typer.Typer(help="Start, stop and inspect the local InfluxDB under the state folder.",
                        no_args_is_help=True)
dlq_app = typer.Typer(help="Objects whose ingest failed (dead letters).", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(dlq_app, name="dlq")

@app.callback()
def _root(
    state_dir: Annotated[
        Path | None, typer.Option(help="State folder (default ./.onsflux, env ONSFLUX_STATE_DIR).")
    ] = None,
    influxdb_url: Annotated[
        str | None, typer.Option("--url", help="InfluxDB URL (env INFLUXDB_URL); default: local.")
    ] = None,
) -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        print_error(f"invalid setting {first['loc']}: {first['msg']}")
        raise typer.Exit(EXIT_USAGE) from None
    settings = settings.with_overrides(state_dir=state_dir, influxdb_url=influxdb_url)
    if settings.influxdb_token_secret_arn or settings.api_keys_secret_arn:
        from ..secrets import resolve_secrets

        try:
            settings = resolve_secrets(settings)
        except OnsfluxError as exc:
            print_error(exc)
            raise typer.Exit(EXIT_FAILED) from None
    use_settings(settings)


# ---------------------------------------------------------------------------- local
@local_app.command("up")
@friendly
def local_up(
    port: Annotated[int | None, typer.Option(help="Port (default: a free one).")] = None,
    with_prometheus: Annotated[bool, typer.Option(
        "--with-prometheus", help="Also start Prometheus scraping `onsflux serve` (port "
        "--serve-port) and `migrate --metrics-port 9464`, with the alert rules.")] = False,
    serve_port: Annotated[int, typer.Option(help="Port of `onsflux serve` to scrape.")] = 8000,
    json: JsonOpt = False,
) -> None:
    """Start the local InfluxDB (data under the state folder) and create the buckets."""
    from ..catalog import BUCKETS
    from ..influx.client import InfluxClient
    from ..influx.local import LocalServer

    s = settings()
    handle = LocalServer(s.state_dir).up(port=port)
    with InfluxClient(s, url=handle.url) as client:
        info = client.ping()
        for bucket in BUCKETS:
            client.ensure_database(bucket, s.retention)
    out: dict[str, Any] = {"url": handle.url, "pid": handle.pid, "version": info.version,
                           "buckets": list(BUCKETS), "retention": s.retention}
    if with_prometheus:
        from ..ops.prometheus import LocalPrometheus

        prom = LocalPrometheus(s.state_dir).up({"onsflux": [f"127.0.0.1:{serve_port}"],
                                                "onsflux-migrate": ["127.0.0.1:9464"]})
        out["prometheus"] = {"url": prom.url, "pid": prom.pid, "targets": prom.targets}
    if json:
        emit_json(out)
    else:
        console.print(f"InfluxDB {info.version} running at {handle.url} (pid {handle.pid});"
                      f" buckets {', '.join(BUCKETS)} with retention {s.retention}")
        if with_prometheus:
            p = out["prometheus"]
            console.print(f"Prometheus running at {p['url']} (pid {p['pid']}), "
                          f"scraping {p['targets']}; alerts at {p['url']}/alerts")


@local_app.command("down")
@friendly
def local_down(json: JsonOpt = False) -> None:
    """Stop the local InfluxDB this state folder started (by its recorded PID only)."""
    from ..influx.local import LocalServer
    from ..ops.prometheus import LocalPrometheus

    stopped = LocalServer(settings().state_dir).down()
    prom_stopped = LocalPrometheus(settings().state_dir).down()
    if json:
        emit_json({"stopped": stopped, "prometheus_stopped": prom_stopped})
    else:
        console.print("stopped" if stopped else "no local InfluxDB was running")
        if prom_stopped:
            console.print("local Prometheus stopped")


@local_app.command("status")
@friendly
def local_status(json: JsonOpt = False) -> None:
    """Is the local InfluxDB running? Where?"""
    from ..influx.local import LocalServer

    st = LocalServer(settings().state_dir).status()
    if json:
        emit_json(st)
    else:
        if not st.get("running"):
            console.print("not running (start it with `onsflux local up`)")
            return
        console.print("InfluxDB running")
        for key, value in st.items():  # one "key  value" line each, not a Python dict
            if key != "running":
                console.print(f"  {key:<11} {value}", soft_wrap=True)


# ---------------------------------------------------------------------------- sample
@app.command("sample")
@friendly
def sample_cmd(
    out: Annotated[Path, typer.Option(help="Folder to write the files into.")],
    days: Annotated[int, typer.Option(min=1, max=3660, help="Days of hourly data.")] = 30,
    format: Annotated[str, typer.Option(
        "--format", help="ons (open-data files as published), processed (long) or wide.")] = "ons",
    seed: Annotated[int, typer.Option(help="Random seed: same seed and start, same bytes.")] = 7,
    start: Annotated[str | None, typer.Option(
        help="First day, YYYY-MM-DD (default: DAYS days ending yesterday, Brasília).")] = None,
    json: JsonOpt = False,
) -> None:
    """Write realistic, deterministic ONS-shaped sample files."""
    from .. import sample
    from ..exceptions import ConfigError

    if format not in ("ons", "processed", "wide"):
        raise ConfigError(f"--format must be ons, processed or wide, not {format!r}")
    try:
        first = date.fromisoformat(start) if start else None
    except ValueError:
        raise ConfigError(f"--start must be YYYY-MM-DD, not {start!r}") from None
    data = sample.generate(days=days, start=first, seed=seed)
    fmt: Literal["ons", "processed", "wide"] = format  # type: ignore[assignment]
    paths = sample.write(data, out, fmt)
    files: list[dict[str, Any]] = [{"path": str(p), "bytes": p.stat().st_size} for p in paths]
    if json:
        emit_json({"format": format, "days": days, "seed": seed, "files": files})
    else:
        console.print(table(f"{len(paths)} {format} files in {out}", ["file", "bytes"],
                            [[f["path"], fmt_int(f["bytes"])] for f in files]))


# ---------------------------------------------------------------------------- ingest
def _print_summary(summary: Any, title: str) -> None:
    rows = []
    for o in summary.objects:
        # the table's cell says it short (``--json`` and `status` keep the full text)
        verified = re.sub(r"\(acknowledged; (\d+) series read back\)", r"(\1 sampled)",
                          o.verified or ("see below" if o.error else ""))
        rows.append([o.key.rsplit("/", 1)[-1], o.status, fmt_int(o.rows), fmt_int(o.points),
                     fmt_int(o.rejected), verified])
    t = table(title, ["object", "status", "rows", "points", "rejected", "verify"], rows)
    t.columns[0].no_wrap = True  # a name cut over two lines cannot be copied: verify wraps
    console.print(t)
    console.print(
        f"{summary.files} files, {fmt_int(summary.rows)} rows, "
        f"{fmt_int(summary.points)} points, {fmt_int(summary.rejected)} rejected "
        f"({fmt_int(summary.duplicates)} duplicates), {summary.skipped} unchanged, "
        f"{summary.failed} failed in {summary.seconds:.2f} s "
        f"({fmt_int(summary.points_per_s)} points/s)"
    )
    for o in summary.objects:
        if o.error:
            console.print(styled("  ", ("failed:", "red"), " ", redact(o.error)), soft_wrap=True)
        for note in o.notes:
            console.print(f"  note {o.key.rsplit('/', 1)[-1]}: {note}")
        for r in o.rejects_sample:
            value = f" value {r['value']!r}" if r.get("value") is not None else ""
            console.print(f"  rejected {r['source']} row {r['row'] or '-'} column "
                          f"{r['column'] or '-'}{value}: {r['reason']}", soft_wrap=True,
                          markup=False)
        if o.rejected > len(o.rejects_sample):
            console.print(f"  … {fmt_int(o.rejected - len(o.rejects_sample))} more: "
                          f"`onsflux rejects {o.key}`")


def _exit_for(summary: Any, allow_rejects: bool) -> None:
    if summary.failed:
        err_console.print(styled((f"{summary.failed} objects failed", "red"),
                                 ": see `onsflux dlq list`"))
        raise typer.Exit(EXIT_FAILED)
    if summary.rejected and not allow_rejects:
        err_console.print(styled((f"{fmt_int(summary.rejected)} rows rejected", "yellow"),
                                 " (use --allow-rejects to exit 0 anyway)"))
        raise typer.Exit(EXIT_REJECTS)


@app.command("ingest")
@friendly
def ingest_cmd(
    paths: Annotated[list[str], typer.Argument(help="Files, folders or s3://bucket/prefix URLs.")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Read, validate and encode; write nothing.")] = False,
    force: Annotated[bool, typer.Option(help="Ingest again even when unchanged.")] = False,
    allow_rejects: Annotated[bool, typer.Option(
        "--allow-rejects", help="Exit 0 even when rows were rejected.")] = False,
    workers: Annotated[int | None, typer.Option(help="Concurrent writes.")] = None,
    batch_lines: Annotated[int | None, typer.Option(help="Lines per write request.")] = None,
    allow_parallel_series: Annotated[bool, typer.Option(
        "--allow-parallel-series",
        help="Write even when a file's series would sit beside stored series of the same "
             "quantity under other tags (sums over both double).")] = False,
    also_write: Annotated[str | None, typer.Option(
        "--also-write", help="timestream: also write every batch to Timestream (dual-write "
                             "during the cutover; env ONSFLUX_ALSO_WRITE).")] = None,
    json: JsonOpt = False,
) -> None:
    """Ingest ONS, processed or wide files (disk or S3) into InfluxDB."""
    from ..ingest.pipeline import Ingestor

    if also_write not in (None, "timestream"):
        from ..exceptions import ConfigError

        raise ConfigError(f"--also-write must be timestream, not {also_write!r}")
    s = settings().with_overrides(write_workers=workers, batch_lines=batch_lines,
                                  also_write=also_write)
    use_settings(s)
    client = None if dry_run else _client()
    store = _store()
    try:
        with unit_progress(not json, "ingest", total="objects", done="object_done",
                           count=("rows", "n"), unit="rows", start="object_start") as progress:
            summary = Ingestor(s, store, client, progress=progress,
                               allow_parallel_series=allow_parallel_series).ingest(
                paths, dry_run=dry_run, force=force)
    finally:
        store.close()
        if client is not None:
            client.close()
    if json:
        emit_json(summary.as_dict())
    else:
        _print_summary(summary, "dry run (nothing written)" if dry_run else "ingest")
    _exit_for(summary, allow_rejects)


# ---------------------------------------------------------------------------- status
@app.command("status")
@friendly
def status_cmd(json: JsonOpt = False) -> None:
    """Processed objects, their counts and the open dead letters."""
    store = _store()
    try:
        objects = store.objects()
        dead = store.dead_letters()
    finally:
        store.close()
    if json:
        emit_json({"objects": [o.as_dict() for o in objects],
                   "dead_letters": [d.as_dict() for d in dead]})
        return
    console.print(table(f"{len(objects)} objects", ["object", "status", "rows", "points",
                                                     "rejected", "attempts", "verify / error"],
                        [[o.key, o.status, fmt_int(o.rows), fmt_int(o.points), fmt_int(o.rejected),
                          o.attempts, o.error or o.verified or ""] for o in objects]))
    if dead:
        console.print(styled((f"{len(dead)} dead letters", "yellow"), ": `onsflux dlq list`"))


@app.command("rejects")
@friendly
def rejects_cmd(
    key: Annotated[str | None, typer.Argument(help="Object (file path or URL); all when omitted.")]
    = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
    csv: Annotated[Path | None, typer.Option(help="Write all of them to this CSV file.")] = None,
    json: JsonOpt = False,
) -> None:
    """Rows that were rejected: file, row, column, value and reason."""
    store = _store()
    try:
        frame = store.rejects(key, None if csv else limit)
    finally:
        store.close()
    if csv:
        _write_csv(frame, csv)
        console.print(f"{fmt_int(frame.height)} rejects written to {csv}")
    elif json:
        emit_json(frame.to_dicts())
    else:
        console.print(table(f"{frame.height} rejects", list(frame.columns),
                            [list(r) for r in frame.rows()]))


def _write_csv(frame: Any, path: Path) -> None:
    """``frame`` as CSV at ``path``; a missing folder or a refused write is a clear error."""
    from ..exceptions import ConfigError

    if not path.parent.is_dir():
        raise ConfigError(f"--csv {path}: the folder {path.parent} does not exist; create it "
                          "or choose another path")
    try:
        frame.write_csv(path)
    except OSError as exc:
        raise ConfigError(f"--csv {path}: cannot write ({exc.strerror or type(exc).__name__})"
                          ) from exc


# ---------------------------------------------------------------------------- dlq
@dlq_app.command("list")
@friendly
def dlq_list(json: JsonOpt = False) -> None:
    """Objects whose last ingest failed, with the reason."""
    store = _store()
    try:
        dead = store.dead_letters()
    finally:
        store.close()
    if json:
        emit_json([d.as_dict() for d in dead])
    else:
        console.print(table(f"{len(dead)} dead letters", ["object", "kind", "attempts", "reason"],
                            [[d.key, d.kind, d.attempts, d.reason] for d in dead]))


@dlq_app.command("retry")
@friendly
def dlq_retry(
    keys: Annotated[list[str] | None, typer.Argument(help="Objects to retry (default: all).")]
    = None,
    allow_rejects: Annotated[bool, typer.Option("--allow-rejects")] = False,
    json: JsonOpt = False,
) -> None:
    """Ingest dead-lettered objects again; success resolves them."""
    from ..ingest.pipeline import Ingestor, retry_dead_letters

    client, store = _client(), _store()
    try:
        summary = retry_dead_letters(Ingestor(settings(), store, client), keys)
    finally:
        store.close()
        client.close()
    if json:
        emit_json(summary.as_dict())
    else:
        _print_summary(summary, "dlq retry")
    _exit_for(summary, allow_rejects)


# ---------------------------------------------------------------------------- bench
def _bench_module(name: str) -> Any:
    """The benchmark ``name`` from the installed package (never the current directory)."""
    from .. import bench
    from ..exceptions import ConfigError

    available = sorted(m.name for m in pkgutil.iter_modules(bench.__path__)
                       if not m.name.startswith("_") and m.name not in bench.HELPERS)
    if name not in available:
        raise ConfigError(f"no benchmark {name!r}; available: {', '.join(available) or 'none'}")
    return importlib.import_module(f"{bench.__name__}.{name}")


@app.command("bench")
@friendly
def bench_cmd(
    name: Annotated[str, typer.Argument(
        help="encode | ingest | query | seed | api | migrate | nl | …")],
    repeats: Annotated[int, typer.Option(help="Runs per contender; the median is reported.")] = 3,
    rows: Annotated[int | None, typer.Option(help="Rows (points) to use.")] = None,
    duration: Annotated[float | None, typer.Option(
        help="Seconds of sustained load (seed: the write test).")] = None,
    rate: Annotated[int | None, typer.Option(help="Offered points/s (seed: the write test).")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--set", help="Benchmark parameter KEY=VALUE, e.g. --set pin=true.")] = None,
    json: JsonOpt = False,
) -> None:
    """Run a benchmark (onsflux.bench) and print its figures (JSON with --json)."""
    from ..exceptions import ConfigError

    module = _bench_module(name)
    params = inspect.signature(module.run).parameters
    kwargs: dict[str, Any] = {"repeats": repeats}
    for item in option or []:
        key, sep, raw = item.partition("=")
        if not sep or key not in params:
            raise ConfigError(f"--set {item!r}: use KEY=VALUE with KEY one of "
                              f"{', '.join(p for p in params if p not in ('settings', 'json'))}")
        default = params[key].default
        if isinstance(default, bool):
            kwargs[key] = raw.strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int):
            kwargs[key] = int(raw)
        elif isinstance(default, float):
            kwargs[key] = float(raw)
        else:
            kwargs[key] = raw
    for key, value in (("rows", rows), ("duration", duration), ("rate", rate)):
        if value is not None:
            if key not in params:
                raise ConfigError(f"--{key} does not apply to the {name!r} benchmark")
            kwargs[key] = value
    if "json" in params:
        kwargs["json"] = json
    if "settings" in params:
        kwargs["settings"] = settings()
    result = module.run(**{k: v for k, v in kwargs.items() if k in params})
    if json:
        emit_json(result)
    else:
        console.print_json(data=result)
        contenders = [(k, float(v["points_per_s"])) for k, v in result.items()
                      if isinstance(v, dict) and "points_per_s" in v]
        if len(contenders) > 1:  # a comparison reads better as bars
            console.print("\npoints per second (median):")
            for line in bar_lines(contenders):
                console.print(f"  {line}", markup=False)


# ---------------------------------------------------------------------------- demo
@app.command("demo")
@friendly
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the sample files.")] = Path("demo-data"),
    days: Annotated[int, typer.Option(min=1, max=365)] = 30,
) -> None:
    """Local InfluxDB → sample files → ingest → a few answers. What `make demo` runs."""
    from .. import demo

    summary = demo.run(settings(), out, days=days, console=console)
    if summary.failed:
        raise typer.Exit(EXIT_FAILED)


from .migrate import migrate_app  # noqa: E402 - registered last: it imports from this module

app.add_typer(migrate_app, name="migrate")


# ---------------------------------------------------------------------------- query
from .query import register as _register_query  # noqa: E402

_register_query(app)

from .ask import register as _register_ask  # noqa: E402

_register_ask(app)

from .mcp import register as _register_mcp  # noqa: E402

_register_mcp(app)

from .cutover import register as _register_cutover  # noqa: E402

_register_cutover(app)

from .ops import register as _register_ops  # noqa: E402

_register_ops(app)
