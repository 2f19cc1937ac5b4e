"""``onsflux query``: run a QuerySpec, a template or raw read-only InfluxQL.

Registered on the main app by ``register(app)`` (called at the end of ``app.py``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from .output import console, emit_json, styled, table


def _default_range() -> tuple[str, str]:
    stop = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return (stop - timedelta(days=30)).isoformat(), stop.isoformat()


def register(app: typer.Typer) -> None:
    from ._common import friendly, settings

    @app.command("query")
    @friendly
    def query_cmd(
        spec: Annotated[Path | None, typer.Option(
            "--spec", help="A QuerySpec JSON file (see onsflux.query.spec).")] = None,
        influxql: Annotated[str | None, typer.Option(
            "--influxql", help="Raw InfluxQL: SELECT or SHOW only, one statement.")] = None,
        template: Annotated[str | None, typer.Option(
            "--template",
            help="generation_trend | consumption_peak | transmission_losses.")] = None,
        start: Annotated[str | None, typer.Option(
            help="Range start, ISO 8601 (template default: 30 days before --stop).")] = None,
        stop: Annotated[str | None, typer.Option(
            help="Range stop, exclusive, ISO 8601 (template default: this hour).")] = None,
        timezone: Annotated[str | None, typer.Option(
            help="Time zone of naive --start/--stop (default UTC).")] = None,
        db: Annotated[str | None, typer.Option(help="Database for raw --influxql.")] = None,
        dialect: Annotated[str, typer.Option(
            help="Executed language: auto (InfluxQL on 1.x/3.x, Flux on 2.x), influxql, flux.")]
        = "auto",
        limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
        render_only: Annotated[bool, typer.Option(
            "--render-only", help="Print the rendered queries; run nothing.")] = False,
        json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
        = False,
    ) -> None:
        """Run a query (spec file, template or raw InfluxQL); show rows, queries and timings."""
        from ..exceptions import ConfigError
        from ..query.execute import RAW_LIMIT, Executor
        from ..query.guard import check_influxql
        from ..query.render import render_all
        from ..query.spec import QuerySpec
        from ..query.templates import template as make_template

        given = [x for x in (spec, influxql, template) if x is not None]
        if len(given) != 1:
            raise ConfigError("give exactly one of --spec FILE, --influxql TEXT, --template NAME")
        if dialect not in ("auto", "influxql", "flux"):
            raise ConfigError(f"--dialect must be auto, influxql or flux, not {dialect!r}")
        s = settings()
        out: dict[str, Any] = {}
        if influxql is not None:
            check_influxql(influxql)  # refused before any connection is made
            if render_only:
                out = {"query_used": {"dialect": "influxql", "text": influxql}}
            else:
                with Executor(s) as ex:
                    result = ex.run_influxql(influxql, db=db,
                                             limit=RAW_LIMIT if limit is None else limit)
                out = result.as_dict()
            _show(out, json)
            return
        started = time.perf_counter()
        if spec is not None:
            try:
                text = spec.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read --spec {spec}: {exc.strerror}") from None
            except UnicodeDecodeError as exc:
                raise ConfigError(f"--spec {spec}: not UTF-8 text (byte {exc.start}); a spec "
                                  "is a JSON file") from None
            q = QuerySpec.parse(text)
            changes = {k: v for k, v in (("start", start), ("stop", stop), ("timezone", timezone),
                                         ("limit", limit)) if v is not None}
            if changes:
                q = q.replace(**changes)
        else:
            a, b = _default_range()
            extra: dict[str, Any] = {"limit": limit} if limit is not None else {}
            if timezone:
                extra["timezone"] = timezone
            q = make_template(template or "", start or a, stop or b, **extra)
        rendered = render_all(q)
        render_ms = (time.perf_counter() - started) * 1000
        queries = {d: (r.text if not isinstance(r, Exception) else {"unsupported": str(r)})
                   for d, r in rendered.items()}
        if not render_only:
            from ..cutover.router import router_for

            with Executor(s) as ex:
                router = router_for(s, ex)
                try:  # the cutover phase decides the backend (pass-through when none)
                    result = router.run(q, dialect=dialect)
                finally:
                    router.close()
            out = result.as_dict()
        out.update({"spec": q.to_dict(), "queries": queries,
                    "timings_ms": {"render": round(render_ms, 2),
                                   **({"execute": out["elapsed_ms"]} if "elapsed_ms" in out else {})}})
        _show(out, json)


def _show(out: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(out)
        return
    rows = out.get("time_series_data")
    if rows is not None:
        tag_keys = sorted({k for r in rows for k in r["tags"]})
        console.print(table(
            f"{out['row_count']} rows{' (truncated)' if out['truncated'] else ''} "
            f"from {out['served_from']}",
            ["timestamp", "field", "value", *tag_keys],
            [[r["timestamp"], r["field"], "" if r["value"] is None else f"{r['value']:.6g}",
              *(r["tags"].get(k, "") for k in tag_keys)] for r in rows]))
        for w in out.get("warnings") or []:
            console.print(styled(("warning:", "yellow"), f" {w}"), soft_wrap=True)
    queries = out.get("queries") or {"influxql": out.get("query_used", {}).get("text", "")}
    for dialect, text in queries.items():
        console.rule(dialect)
        console.print(text if isinstance(text, str) else f"unsupported: {text['unsupported']}",
                      markup=False, soft_wrap=True)
    if "timings_ms" in out:
        console.print("timings: " + ", ".join(f"{k} {v:.1f} ms" for k, v in
                                              out["timings_ms"].items()))
    elif "elapsed_ms" in out:
        console.print(f"timings: execute {out['elapsed_ms']:.1f} ms")
