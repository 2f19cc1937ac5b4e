"""``onsflux migrate plan / run / verify / rollback / sync``: thin over :mod:`onsflux.migrate`.

Like vmctl: explore and show first, then confirm (``--yes``; without a terminal, ``plan``
confirms by itself, ``rollback`` refuses without ``--yes`` because it deletes data).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from ._common import EXIT_FAILED, EXIT_REJECTS, JsonOpt, friendly, settings
from ._common import client as _client
from .output import (
    console,
    emit_json,
    err_console,
    fmt_int,
    print_error,
    styled,
    table,
    unit_progress,
)

migrate_app = typer.Typer(help="Timestream → InfluxDB: plan, run, verify, roll back, sync.",
                          no_args_is_help=True)

SourceOpt = Annotated[str, typer.Option(
    "--source", help="UNLOAD export (folder or s3://bucket/prefix) or timestream://DB[/TABLE].")]
MappingOpt = Annotated[str | None, typer.Option(
    "--mapping", help="Mapping file (TOML/JSON); default: the one recorded by plan, or the "
                      "ONS defaults.")]
TableOpt = Annotated[str | None, typer.Option(
    "--table", help="Table an UNLOAD export holds, when its path does not say.")]
PartitionOpt = Annotated[list[str] | None, typer.Option(
    "--partition", help="Only this partition (repeatable).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
NoManifestOpt = Annotated[bool | None, typer.Option(
    "--no-manifest/--require-manifest",
    help="Migrate an UNLOAD folder that has result files but no *_manifest.json (what a "
         "failed UNLOAD leaves); refused by default. Recorded by plan.")]
DelimiterOpt = Annotated[str | None, typer.Option(
    "--field-delimiter", help="UNLOAD field_delimiter of a CSV export (one character; "
                              "'\\t' or 'tab' for a tab). Default ','; recorded by plan.")]
EscapeOpt = Annotated[str | None, typer.Option(
    "--escaped-by", help="UNLOAD escaped_by of a CSV export (one character). Default "
                         "'\\'; recorded by plan.")]
HeaderOpt = Annotated[str | None, typer.Option(
    "--include-header", help="UNLOAD include_header of a CSV export: true, false or auto "
                             "(a first line equal to the column names). Default auto.")]
MetricsPortOpt = Annotated[int | None, typer.Option(
    help="Serve Prometheus /metrics on 127.0.0.1:PORT while the command runs.")]


def _serve_metrics(port: int | None) -> None:
    if port is not None:
        from ..metrics import serve_http

        serve_http(port)


def _csv_options(delimiter: str | None, escape: str | None, header: str | None) -> Any:
    """The CSV options given on the command line (None: use the ones recorded)."""
    from ..exceptions import ConfigError
    from ..sources.unload import DEFAULT_CSV, CsvOptions

    if delimiter is None and escape is None and header is None:
        return None
    d = {"\\t": "\t", "tab": "\t"}.get(delimiter or "", delimiter or DEFAULT_CSV.delimiter)
    e = escape if escape is not None else DEFAULT_CSV.escape
    h = (header or DEFAULT_CSV.header).lower()
    for name, value in (("--field-delimiter", d), ("--escaped-by", e)):
        if len(value) != 1 or value in "\r\n":
            raise ConfigError(f"{name} {value!r}: give exactly one character (not a newline)")
    if d == e or '"' in (d, e):
        raise ConfigError(f"--field-delimiter {d!r} and --escaped-by {e!r} must differ from "
                          "each other and from the quote character '\"'")
    if h not in ("auto", "true", "false"):
        raise ConfigError(f"--include-header {header!r}: true, false or auto")
    return CsvOptions(delimiter=d, escape=e, header=h)


def _migration(source: str, mapping: str | None, table_name: str | None, *,
               no_manifest: bool | None = None, delimiter: str | None = None,
               escape: str | None = None, header: str | None = None) -> Any:
    from ..migrate import Migration

    return Migration(settings(), source, mapping, table=table_name, no_manifest=no_manifest,
                     csv=_csv_options(delimiter, escape, header))


def _warn(warnings: list[str]) -> None:
    """Warnings go to every output mode: stderr in text mode (JSON carries them too)."""
    for w in warnings:
        err_console.print(styled(("warning:", "yellow"), f" {w}"), soft_wrap=True)


def _confirm(question: str, yes: bool, *, required: bool = False) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        if required:
            print_error(f"{question} needs --yes when not on a terminal", "refused:")
            return False
        return True
    return typer.confirm(question, default=False)


@migrate_app.command("plan")
@friendly
def plan_cmd(
    source: SourceOpt, mapping: MappingOpt = None, table_name: TableOpt = None,
    target_rows: Annotated[int, typer.Option(help="Rows per partition at most.")] = 1_000_000,
    window: Annotated[str | None, typer.Option(help="Force a window size (6h, 1d, 30d…).")]
    = None,
    no_manifest: NoManifestOpt = None, field_delimiter: DelimiterOpt = None,
    escaped_by: EscapeOpt = None, include_header: HeaderOpt = None,
    yes: YesOpt = False, json: JsonOpt = False,
) -> None:
    """Explore the source, cut it into (table, time window) partitions, record them."""
    with _migration(source, mapping, table_name, no_manifest=no_manifest,
                    delimiter=field_delimiter, escape=escaped_by, header=include_header) as mig:
        plan = mig.plan(target_rows=target_rows, window=window)
        out = plan.as_dict()
        if not json:
            console.print(table(
                f"plan for {plan.source} — window {out['window']}",
                ["table", "→ bucket/measurement", "rows", "points", "rejects", "NULL measures",
                 "manifest rows", "first", "last", "series", "partitions"],
                [[t["table"], f"{t['bucket']}/{t['measurement']}", fmt_int(t["rows"]),
                  fmt_int(t["points"]), fmt_int(t["rejected"]), fmt_int(t["null_measures"]),
                  "" if t["manifest_rows"] is None else fmt_int(t["manifest_rows"]),
                  t["first"], t["last"], fmt_int(t["series"]), t["partitions"]]
                 for t in out["tables"]]))
            for t in out["tables"]:
                console.print(
                    f"{t['bucket']}/{t['measurement']} ← {t['table']}: tags "
                    f"{', '.join(t['tags']) or '(none)'}; fields "
                    + (", ".join(f"{k} ({v})" for k, v in t["fields"].items()) or "(none)"),
                    soft_wrap=True, markup=False, highlight=False)
            _warn(out["warnings"])
        if not _confirm(f"Found {fmt_int(plan.rows)} rows in {len(plan.partitions)} partitions. "
                        "Record this plan?", yes or json):
            raise typer.Exit(EXIT_FAILED)
        new = mig.save(plan)
        out["new_partitions"] = new
        if json:
            emit_json(out)
        else:
            console.print(f"recorded: {len(plan.partitions)} partitions ({new} new); "
                          f"next: onsflux migrate run --source {source}")


@migrate_app.command("run")
@friendly
def run_cmd(
    source: SourceOpt, mapping: MappingOpt = None, table_name: TableOpt = None,
    partition: PartitionOpt = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read, map, encode; write nothing.")]
    = False,
    allow_rejects: Annotated[bool, typer.Option("--allow-rejects")] = False,
    no_manifest: NoManifestOpt = None, field_delimiter: DelimiterOpt = None,
    escaped_by: EscapeOpt = None, include_header: HeaderOpt = None,
    metrics_port: MetricsPortOpt = None,
    json: JsonOpt = False,
) -> None:
    """Migrate every partition not done yet (resumable; idempotent)."""
    from ..migrate import run

    _serve_metrics(metrics_port)

    with _migration(source, mapping, table_name, no_manifest=no_manifest,
                    delimiter=field_delimiter, escape=escaped_by,
                    header=include_header) as mig, unit_progress(
            not json, "migrate", total="partitions", done="partition_done",
            count=("partition_done", "points"), unit="points") as progress:
        summary = run(mig, workers=workers, dry_run=dry_run, partition_ids=partition,
                      progress=progress)
    out = summary.as_dict()
    _warn(out["warnings"])
    if json:
        emit_json(out)
    else:
        console.print(table("dry run (nothing written)" if dry_run else "run",
                            ["partition", "status", "rows read", "no value", "rejected",
                             "duplicates", "points", "field values", "s"],
                            [[p["id"], p["status"], fmt_int(p["source_rows"]),
                              fmt_int(p["null_measures"]), fmt_int(p["rejected"]),
                              fmt_int(p["duplicates"]), fmt_int(p["points"]),
                              fmt_int(p["field_values"]), p["seconds"]]
                             for p in out["partitions"]]))
        for p in out["partitions"]:
            if p["error"] and p["status"] != "skipped":
                console.print(styled("  ", (f"{p['id']}:", "red"), f" {p['error']}"),
                              soft_wrap=True)
        _print_duplicates(out["partitions"])
        for e in out["errors"]:
            console.print(styled("  ", ("error:", "red"), f" {e}"), soft_wrap=True)
        console.print(out["explain"], soft_wrap=True, markup=False, highlight=False)
        console.print(f"{out['failed']} failed in {out['seconds']} s "
                      f"({fmt_int(out['points_per_s'] or 0)} points/s)")
    if summary.failed:
        raise typer.Exit(EXIT_FAILED)
    if summary.rejected and not allow_rejects:
        err_console.print(styled((f"{fmt_int(summary.rejected)} rows rejected", "yellow"),
                                 ": `onsflux rejects` lists them (--allow-rejects to exit 0)"))
        raise typer.Exit(EXIT_REJECTS)


def _print_duplicates(partitions: list[dict[str, Any]]) -> None:
    """Examples of source rows on one point (series + time), superseded values first."""
    shown = 0
    for p in partitions:
        for ex in p.get("duplicate_examples") or []:
            if shown >= 5:
                return
            lost = ex.get("fields_superseded") or []
            console.print(
                f"  duplicate: {ex['series']} at {ex['time']}: rows {', '.join(ex['rows'])}"
                + (f" (value of {', '.join(lost)} from the last row)" if lost else
                   " (merged into one point)"),
                soft_wrap=True, markup=False, highlight=False)
            shown += 1


@migrate_app.command("verify")
@friendly
def verify_cmd(
    source: SourceOpt, mapping: MappingOpt = None, table_name: TableOpt = None,
    partition: PartitionOpt = None,
    rel_tol: Annotated[float, typer.Option(help="Relative tolerance of float sums.")] = 1e-9,
    limit: Annotated[int, typer.Option(help="Mismatches shown (all with --json).")] = 50,
    full: Annotated[bool, typer.Option(
        "--full", help="Every series: count, sum, min, max and timestamps (several times "
                       "dearer on the server).")] = False,
    sample: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Fraction of each partition's values whose series get their "
                               "sum and timestamps checked (at least one series; 1: every "
                               "series).")] = 0.02,
    no_manifest: NoManifestOpt = None, field_delimiter: DelimiterOpt = None,
    escaped_by: EscapeOpt = None, include_header: HeaderOpt = None,
    json: JsonOpt = False,
) -> None:
    """Compare the count of every series per partition and field, and the sum and
    timestamps (first, last, checksum) of a random sample of series (--sample 1: every
    series; --full: min and max too); rolled back partitions must be absent. Exit 1 on
    any mismatch."""
    from ..migrate import verify
    from ..migrate.verify import Checks

    with _migration(source, mapping, table_name, no_manifest=no_manifest,
                    delimiter=field_delimiter, escape=escaped_by,
                    header=include_header) as mig, _client() as client:
        report = verify(mig, client, partition, rel_tol=rel_tol,
                        checks=Checks(full=full, sample=sample))
    out = report.as_dict()
    _warn(out["warnings"])
    if json:
        emit_json(out)
    else:
        console.print(table("verify", ["partition", "state", "series", "source values",
                                       "InfluxDB values", "rejected", "mismatches"],
                            [[p["id"], p["state"], p["series"],
                              fmt_int(p["source_values"]), fmt_int(p["target_values"]),
                              fmt_int(p["rejected"]), p["mismatches"]]
                             for p in out["partitions"]]))
        if report.mismatches:
            console.print(table(f"{len(report.mismatches)} mismatches",
                                ["partition", "series", "field", "stat", "source", "InfluxDB"],
                                [[m.partition, m.series, m.field, m.stat, m.source, m.target]
                                 for m in report.mismatches[:limit]]))
        colour = "green" if report.ok else "red"
        console.print(styled(f"{len(out['partitions'])} partitions, {fmt_int(out['values'])} "
                             f"values checked ({out['checks']}) in {out['seconds']} s: ",
                             (report.verdict.upper() if not report.ok else report.verdict,
                              colour)))
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@migrate_app.command("rollback")
@friendly
def rollback_cmd(
    source: SourceOpt, mapping: MappingOpt = None, table_name: TableOpt = None,
    partition: PartitionOpt = None, yes: YesOpt = False, json: JsonOpt = False,
) -> None:
    """Delete what the migration wrote (all partitions, or --partition …), after confirming."""
    from ..migrate import planned, rollback

    with _migration(source, mapping, table_name) as mig:
        plan = planned(mig, partition)
        if not json:
            console.print(table(f"rollback deletes {len(plan)} ranges",
                                ["partition", "bucket", "measurement", "series", "from",
                                 "to (excl.)"],
                                [[d.partition, d.bucket, d.measurement,
                                  "ALL (none recorded)" if d.series is None
                                  else fmt_int(len(d.series)), d.as_dict()["start"],
                                  d.as_dict()["stop"]] for d in plan]))
        if not plan:
            if json:
                emit_json({"deleted": []})
            return
        if not _confirm(f"Delete these {len(plan)} ranges from InfluxDB?", yes, required=True):
            raise typer.Exit(EXIT_FAILED)
        with _client() as client:
            done = rollback(mig, client, plan)
    if json:
        emit_json({"deleted": [d.as_dict() for d in done]})
    else:
        console.print(f"rolled back {len(done)} partitions")


@migrate_app.command("sync")
@friendly
def sync_cmd(
    source: SourceOpt, mapping: MappingOpt = None,
    lag: Annotated[float, typer.Option(help="Seconds behind now left alone.")] = 60.0,
    overlap: Annotated[float, typer.Option(help="Seconds re-read behind the watermark.")]
    = 900.0,
    interval: Annotated[float, typer.Option(help="Seconds between iterations.")] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="One iteration, then stop.")] = False,
    max_iterations: Annotated[int | None, typer.Option(help="Stop after N iterations.")] = None,
    metrics_port: MetricsPortOpt = None,
    emf: Annotated[bool, typer.Option(
        "--emf", help="Also print each iteration's metrics (sync lag, partitions, points) "
                      "as CloudWatch embedded-metric-format lines on stdout, for the "
                      "CloudWatch agent or a log driver that extracts EMF.")] = False,
    json: JsonOpt = False,
) -> None:
    """Replicate new Timestream data until cutover; SIGTERM stops cleanly."""
    from ..migrate import sync
    from ..migrate.sync import Stopper

    _serve_metrics(metrics_port)

    stopper = Stopper()
    stopper.install()

    def show(it: Any) -> None:
        if emf:
            emit_sync_emf(it)
        if not json:
            for t in it.tables:
                console.print(f"#{it.iteration} {t['table']}: {t['from']} → {t['to']} "
                              f"{t['status']} {fmt_int(t['points'])} points, lag {t['lag_s']} s",
                              markup=False, highlight=False)
                if t.get("rejected"):
                    console.print(f"  {t['explain']}; rejects: onsflux rejects "
                                  f"{t['rejects_key']}", soft_wrap=True, markup=False,
                                  highlight=False)

    with _migration(source, mapping, None) as mig, _client() as client:
        report = sync(mig, client, lag_s=lag, overlap_s=overlap, interval_s=interval, once=once,
                      max_iterations=max_iterations, stopper=stopper, progress=show)
    if json:
        emit_json(report.as_dict())
    else:
        console.print(f"sync stopped ({report.stopped_by})")
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


def emit_sync_emf(it: Any, emit: Any = print) -> None:
    """One sync iteration as EMF lines: the same names as ``/metrics`` (lag per table,
    partitions done or failed, points), for CloudWatch's sync-lag alarm."""
    from .. import metrics

    with metrics.emf_scope(function="migrate_sync", emit=emit):
        for t in it.tables:
            metrics.set_gauge("onsflux_migrate_sync_lag_seconds", t["lag_s"], table=t["table"])
            if t["status"] in ("done", "failed"):
                metrics.inc("onsflux_migrate_partitions_done_total" if t["status"] == "done"
                            else "onsflux_migrate_partitions_failed_total")
                metrics.inc("onsflux_migrate_points_total", int(t.get("points") or 0))
