"""``onsflux doctor`` and ``onsflux cost``: thin front doors over ``onsflux.ops``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .output import console, emit_json, err_console, styled, table

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def register(app: typer.Typer) -> None:
    from ._common import EXIT_FAILED, EXIT_USAGE, friendly, settings

    @app.command("doctor")
    @friendly
    def doctor_cmd(
        s3: Annotated[list[str] | None, typer.Option(
            "--s3", help="Also check access to this s3://bucket/prefix (repeatable).")] = None,
        json: JsonOpt = False,
    ) -> None:
        """Check the setup end to end: config, InfluxDB, buckets, permissions, state, S3,
        fallback. Exit 0 when nothing failed, 1 otherwise."""
        from ..ops.doctor import Doctor

        report = Doctor(settings(), s3_urls=s3 or []).run()
        if json:
            emit_json(report.as_dict())
        else:
            for c in report.checks:
                mark = "FAIL" if c.status == "fail" else c.status
                console.print(styled((f"{mark:>4}", _STYLE[c.status]),
                                     f" {c.name:<26} {c.detail}"), soft_wrap=True)
                if c.fix and c.status in ("fail", "warn"):
                    console.print(f"{'':>5}fix: {c.fix}", style="cyan", soft_wrap=True,
                                  markup=False, highlight=False)
            failed = len(report.failed)
            console.print("all checks passed" if not failed else f"{failed} check(s) failed",
                          style="bold green" if not failed else "bold red")
        if report.exit_code:
            raise typer.Exit(EXIT_FAILED)

    @app.command("cost")
    @friendly
    def cost_cmd(
        series: Annotated[int, typer.Option(help="Number of series (tag combinations).")],
        points_per_day: Annotated[float, typer.Option(help="Points (lines) written a day.")],
        queries_per_day: Annotated[float, typer.Option(help="Queries a day.")] = 1000,
        retention_days: Annotated[float, typer.Option(help="Retention in days.")] = 2555,
        fields_per_point: Annotated[float, typer.Option(help="Field values per point.")] = 1,
        objects_per_day: Annotated[float, typer.Option(help="Files ingested a day.")] = 24,
        multi_az: Annotated[bool, typer.Option("--multi-az", help="A standby in a second "
                                                                  "AZ.")] = False,
        storage_tier: Annotated[str | None, typer.Option(
            help="Force a storage tier (InfluxIOIncludedT1/T2/T3).")] = None,
        prices: Annotated[Path | None, typer.Option(
            help="TOML file overriding the packaged price table.")] = None,
        set_: Annotated[list[str] | None, typer.Option(
            "--set", help="Override one price: section.key=value (repeatable).")] = None,
        json: JsonOpt = False,
    ) -> None:
        """Monthly cost on Timestream for InfluxDB, and on Timestream LiveAnalytics for the
        same volume (prices: a dated table with its sources; overridable)."""
        from ..ops.cost import Workload, estimate, load_prices

        try:
            table_ = load_prices(prices, set_ or [])
            w = Workload(series=series, points_per_day=points_per_day,
                         queries_per_day=queries_per_day, retention_days=retention_days,
                         fields_per_point=fields_per_point, objects_per_day=objects_per_day,
                         multi_az=multi_az, storage_tier=storage_tier)
            e = estimate(w, table_)
        except (ValueError, KeyError, OSError) as exc:
            err_console.print(f"usage error: {exc}", markup=False, highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
        if json:
            emit_json(e.as_dict())
            return
        for title, lines, total in (
                (f"Timestream for InfluxDB: {e.instance_class}, {e.storage_gib} GiB "
                 f"{e.storage_tier}", e.influxdb, e.influxdb_total),
                ("Timestream LiveAnalytics, same volume", e.liveanalytics,
                 e.liveanalytics_total)):
            rows = [[x.component, f"{x.quantity:,.2f} {x.unit}", f"${x.unit_price:g}",
                     f"${x.monthly:,.2f}"] for x in lines]
            rows.append(["total", "", "", f"${total:,.2f}"])
            console.print(table(title, ["item", "quantity", "unit price", "per month (USD)"],
                                rows))
            for x in lines:
                if x.note:
                    console.print(f"  {x.component}: {x.note}", style="dim", soft_wrap=True,
                                  highlight=False)
        console.print(f"instance: {e.instance_reason}", soft_wrap=True, highlight=False)
        for n in e.notes:
            console.print(f"note: {n}", style="yellow", soft_wrap=True)
        console.print(f"prices: {table_['meta'].get('region')} on-demand, table dated "
                      f"{e.prices_date} (src/onsflux/ops/prices.toml; --prices/--set override)",
                      style="dim")
