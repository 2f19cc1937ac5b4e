"""``onsflux cutover …``: the blue-green switch to InfluxDB, thin over ``onsflux.cutover``.

Registered by ``register(app)`` (one line in ``app.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .output import console, emit_json, table

cutover_app = typer.Typer(
    help="Blue-green cutover from Timestream (or the processed files) to InfluxDB: shadow "
         "reads, a sticky canary, a gate, one-command rollback.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit trail).")]
ForceOpt = Annotated[bool, typer.Option(
    "--force", help="Override a gate refusal (needs --reason; the override is recorded).")]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.3%}"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def show_status(out: dict[str, Any]) -> None:
    """The status as tables (also used by the rehearsal)."""
    st, fig, gate = out["state"], out["figures"], out["gate"]
    phase = st["phase"] + (f" {st['percent']:g}%" if st["phase"] == "canary" else "")
    if not out["configured"]:
        console.print("no cutover configured: every front door serves InfluxDB as usual "
                      "(start with onsflux cutover shadow --blue timestream|files)")
    console.print(f"phase {phase}  blue={st['blue']} green={st['green']}  "
                  f"sample={st['sample']:g} control={st['control_sample']:g}  "
                  f"version {st['version']}" + (f" · {st['reason']}" if st["reason"] else ""),
                  soft_wrap=True)
    console.print(f"consistency {_pct(fig['consistency'])} over {fig['comparisons']} comparisons"
                  f" · noise floor {_pct(fig['noise_floor'])} over {fig['control_runs']} control "
                  f"runs · dropped {fig['dropped']} · outcomes {fig['outcomes']}", soft_wrap=True)
    console.print(table("latency (ms) and errors per side", ["side", "runs", "p50", "p95", "p99",
                                                             "error rate"],
                        [[side, fig[side]["runs"], _ms(fig[side]["p50_ms"]),
                          _ms(fig[side]["p95_ms"]), _ms(fig[side]["p99_ms"]),
                          _pct(fig[side]["error_rate"])] for side in ("blue", "green")]))
    console.print(table(f"gate: {'open' if gate['ok'] else 'closed'}", ["condition", "ok", "why"],
                        [[c["name"], "yes" if c["ok"] else "NO", c["message"]]
                         for c in gate["checks"]]))
    if out["mismatches"]:
        console.print(table("recent mismatches", ["outcome", "spec", "first diff"], [
            [m["outcome"], m["spec_hash"],
             (f"{d['kind']} {d['field']} {d['tags']} {d['time']}: blue={d['control']} "
              f"green={d['candidate']}") if (d := (m["diffs"] or [None])[0]) else m["detail"]]
            for m in out["mismatches"]]))


def register(app: typer.Typer) -> None:
    from ._common import friendly, settings

    app.add_typer(cutover_app, name="cutover")

    def _ops() -> Any:
        from ..cutover.control import Cutover

        return Cutover(settings())

    @cutover_app.command("status")
    @friendly
    def status_cmd(json: JsonOpt = False) -> None:
        """Phase, consistency against the noise floor, latency and errors per side, recent
        mismatches, the gate."""
        ops = _ops()
        try:
            out = ops.status()
        finally:
            ops.close()
        if json:
            emit_json(out)
        else:
            show_status(out)

    @cutover_app.command("shadow")
    @friendly
    def shadow_cmd(
        blue: Annotated[str, typer.Option("--blue", help="timestream | files")],
        sample: Annotated[float, typer.Option(
            "--sample", help="Share of requests also run on green, 0..1.")] = 0.1,
        files: Annotated[str | None, typer.Option(
            "--files", help="The processed Parquet files (blue = files); default "
                            "ONSFLUX_FALLBACK_PATH.")] = None,
        control: Annotated[float | None, typer.Option(
            "--control-sample", help="Share of shadow runs that re-run the served side "
                                     "(noise floor).")] = None,
        ignore: Annotated[str | None, typer.Option(
            "--ignore", help="Comparison ignore rules: field:NAME,tag:NAME.")] = None,
        threshold: Annotated[list[str] | None, typer.Option(
            "--threshold", help="NAME=VALUE, repeatable (min_consistency, min_comparisons, "
                                "max_latency_ratio, rollback_error_rate, …).")] = None,
        reason: ReasonOpt = None,
        json: JsonOpt = False,
    ) -> None:
        """Start comparing: blue serves every request, a sample also runs on green."""
        from ..cutover.control import parse_thresholds

        ops = _ops()
        try:
            st = ops.shadow(blue=blue, sample=sample, files_path=files, control_sample=control,
                            ignore=ignore, thresholds=parse_thresholds(threshold or []),
                            reason=reason or "")
        finally:
            ops.close()
        _done(st, json)

    @cutover_app.command("shift")
    @friendly
    def shift_cmd(
        percent: Annotated[float, typer.Option("--percent", help="Share of queries on green.")],
        force: ForceOpt = False, reason: ReasonOpt = None, json: JsonOpt = False,
    ) -> None:
        """Canary: serve N% of queries (sticky per query) from green. More exposure passes
        the gate."""
        ops = _ops()
        try:
            st = ops.shift(percent, force=force, reason=reason)
        finally:
            ops.close()
        _done(st, json)

    @cutover_app.command("promote")
    @friendly
    def promote_cmd(
        compare: Annotated[bool, typer.Option(
            "--compare/--no-compare", help="Keep comparing blue after promotion "
                                           "(green-shadow).")] = True,
        force: ForceOpt = False, reason: ReasonOpt = None, json: JsonOpt = False,
    ) -> None:
        """Serve everything from green, if the gate passes."""
        ops = _ops()
        try:
            st = ops.promote(compare=compare, force=force, reason=reason)
        finally:
            ops.close()
        _done(st, json)

    @cutover_app.command("rollback")
    @friendly
    def rollback_cmd(reason: ReasonOpt = None, json: JsonOpt = False) -> None:
        """Back to blue at once, from any phase (every API process within seconds)."""
        ops = _ops()
        try:
            st = ops.rollback(reason=reason)
        finally:
            ops.close()
        _done(st, json)

    @cutover_app.command("report")
    @friendly
    def report_cmd(
        fmt: Annotated[str, typer.Option("--format", help="json | csv")] = "json",
        out: Annotated[Path | None, typer.Option("--out", help="Write to FILE.")] = None,
        limit: Annotated[int, typer.Option(min=1, help="Newest N mismatch records.")] = 500,
    ) -> None:
        """The mismatch records with their diffs (spec, both digests, both values)."""
        ops = _ops()
        try:
            text = ops.report(limit=limit, fmt=fmt)
        finally:
            ops.close()
        if out is None:
            typer.echo(text, nl=not text.endswith("\n"))  # the prompt on its own line
        else:
            out.write_text(text, encoding="utf-8")
            console.print(f"wrote {out}")

    @cutover_app.command("rehearse")
    @friendly
    def rehearse_cmd(
        days: Annotated[int, typer.Option(min=1, max=60, help="Days of sample data.")] = 7,
        requests: Annotated[int, typer.Option(
            min=40, help="Requests replayed per phase.")] = 200,
        out: Annotated[Path | None, typer.Option(
            "--workdir", help="Where the rehearsal keeps its data (default: a new folder "
                              "under the state folder).")] = None,
        json: JsonOpt = False,
    ) -> None:
        """The whole cutover locally: blue = files, green = a local InfluxDB; shadow, canary,
        promote, a fault (influxd stopped) and the automatic rollback."""
        from ..cutover.rehearse import rehearse

        report = rehearse(settings(), days=days, requests=requests, workdir=out,
                          console=None if json else console)
        if json:
            emit_json(report)


def _done(st: Any, as_json: bool) -> None:
    if as_json:
        emit_json(st.as_dict())
        return
    phase = st.phase + (f" {st.percent:g}%" if st.phase == "canary" else "")
    console.print(f"cutover phase is now {phase} (version {st.version}, by "
                  f"{st.updated_by}); running API processes follow within seconds")
