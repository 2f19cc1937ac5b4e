"""Migration bookkeeping without a server: manifests, CSV options, duplicates, counts,
the stores a run opens, and partitions never left running.

UNLOAD fixtures come from ``tests.support.unload_docs``, written as the AWS
documentation lays an export out (not by our own writer).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from onsflux.cli.app import app
from onsflux.exceptions import SourceError
from onsflux.influx import WriteOutcome
from onsflux.migrate import Migration, run
from onsflux.migrate.state import FAILED, MigrationStore
from onsflux.settings import Settings
from tests.support.unload_docs import write_export, write_parquet_results

T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
H = 3_600_000_000_000
UNUSED = "http://127.0.0.1:9"  # the Recorder stands in for InfluxDB
COLUMNS = [("region", "VARCHAR"), ("energy_source", "VARCHAR"), ("measure_name", "VARCHAR"),
           ("time", "TIMESTAMP"), ("power_mw", "DOUBLE"), ("units", "BIGINT")]


def ts(ns: int) -> str:
    import datetime as dt

    secs, frac = divmod(ns, 1_000_000_000)
    return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs)).strftime(
        "%Y-%m-%d %H:%M:%S") + f".{frac:09d}"


def rows(n: int, start: int = T0, region: str = "north") -> list[list[str | None]]:
    return [[region, "hydro", "metrics", ts(start + i * H + 7), f"{i}.5", str(i)]
            for i in range(n)]


def cli(state: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--state-dir", str(state), "migrate", *args])


def failed_parquet_unload(folder: Path) -> None:
    table = pa.table({
        "region": ["north", "south"], "energy_source": ["hydro", "wind"],
        "time": pa.array([T0 + 5, T0 + H + 5], type=pa.timestamp("ns", tz="UTC")),
        "power_mw": [1.5, 2.5]})
    write_parquet_results(folder, [table])


# ------------------------------------------------------------------ 6. manifests

def test_an_export_without_manifest_is_refused_unless_no_manifest(tmp_path: Path) -> None:
    src = tmp_path / "generation_data"
    failed_parquet_unload(src)
    r = cli(tmp_path / "state", "plan", "--source", str(src), "--json")
    assert r.exit_code == 1
    assert "without a *_manifest.json" in r.output and "--no-manifest" in r.output
    with pytest.raises(SourceError, match="--no-manifest"):
        Migration(Settings().with_overrides(state_dir=tmp_path / "s2"), str(src)).plan()

    r = cli(tmp_path / "state", "plan", "--source", str(src), "--no-manifest")
    assert r.exit_code == 0, r.output
    assert "warning:" in r.stderr and "no manifest" in r.stderr  # text mode says it
    # recorded by plan: run (text and JSON) warns again without being told
    r = cli(tmp_path / "state", "run", "--source", str(src), "--dry-run")
    assert r.exit_code == 0, r.output
    assert "no manifest" in r.stderr
    r = cli(tmp_path / "state", "run", "--source", str(src), "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert any("no manifest" in w for w in doc["warnings"]) and "no manifest" in r.stderr
    assert doc["points"] == 2


def test_a_results_file_missing_from_the_manifest_is_said_in_text(tmp_path: Path) -> None:
    src = tmp_path / "generation_data"
    write_export(src, COLUMNS, [rows(3)])
    stray = src / "results" / "AEDAXXXX_0000000000_leftover.csv"
    stray.write_text("north,hydro,metrics,2024-01-01 05:00:00.000000000,9.0,9\n")
    r = cli(tmp_path / "state", "plan", "--source", str(src), "--yes")
    assert r.exit_code == 0, r.output
    assert "not listed in any manifest" in r.stderr and stray.name in r.stderr
    assert json.loads(cli(tmp_path / "state", "plan", "--source", str(src), "--json")
                      .stdout)["rows"] == 3  # the stray file is not migrated


def test_two_unloads_into_one_folder_are_two_exports(tmp_path: Path) -> None:
    src = tmp_path / "generation_data"
    write_export(src, COLUMNS, [rows(3)], uuid="1111111111_first")
    write_export(src, COLUMNS, [rows(2, start=T0 + 10 * H)], uuid="2222222222_second")
    with Migration(Settings().with_overrides(state_dir=tmp_path / "s"), str(src)) as mig:
        plan = mig.plan()
    assert plan.rows == 5 and plan.tables[0].stats.manifest_rows == 5
    assert not plan.warnings


# ------------------------------------------------------------------ 12. CSV options

def test_csv_exports_with_other_delimiter_and_escape_get_cli_options(tmp_path: Path) -> None:
    src = tmp_path / "generation_data"
    weird = ['Sudeste|CO "x"', "a#b", 'c"|#d', "plain"]
    data = [[w, "hydro", "metrics", ts(T0 + i * H), f"{i}.25", str(2**53 + i)]
            for i, w in enumerate(weird)]
    write_export(src, COLUMNS, [data], delimiter="|", escape="#", header=True, gzip=True)
    raw = next((src / "results").glob("*.gz"))
    assert raw.name.endswith(".gz") and not raw.name.endswith(".csv.gz")
    state = tmp_path / "state"
    r = cli(tmp_path / "other", "plan", "--source", str(src), "--include-header", "true")
    assert r.exit_code == 1 and "pass --field-delimiter" in " ".join(r.output.split())
    r = cli(state, "plan", "--source", str(src), "--field-delimiter", "|", "--escaped-by",
            "#", "--include-header", "true", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["rows"] == 4
    # the options are recorded: later stages read the export the same way
    with Migration(Settings().with_overrides(state_dir=state), str(src)) as mig:
        assert (mig.csv.delimiter, mig.csv.escape, mig.csv.header) == ("|", "#", "true")
        (p,) = mig.partitions()
        got = pl.concat([c.frame for c in mig.source.chunks(p.table_name, p.start_ns,
                                                            p.stop_ns, p.files)])
    assert got["region"].to_list() == weird
    assert got["units"].to_list() == [2**53 + i for i in range(4)]
    assert got["time"].to_list() == [T0 + i * H for i in range(4)]
    r = cli(state, "plan", "--source", str(src), "--field-delimiter", "||")
    assert r.exit_code == 1 and "exactly one character" in r.output


# ------------------------------------------------------------------ 7 + 10. counts

class Recorder:
    """An InfluxDB stand-in that accepts every write (run's counting is under test)."""

    kind = "2.x"  # no hourly rollup markers to clear before a partition writes

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def write(self, bucket: str, body: bytes, *, lines: int) -> WriteOutcome:
        self.bodies.append(body)
        return WriteOutcome(status=204, lines=lines)

    def ensure_database(self, bucket: str, retention: str = "") -> None:
        return None

    def close(self) -> None:
        return None


def test_run_reports_rows_points_and_field_values_and_explains_them(tmp_path: Path) -> None:
    data = rows(6)
    data[1][4] = data[1][5] = None  # no measure value at all
    data[2][4] = "NaN"  # cannot be written: reject
    data.append(list(data[3]))  # the same point again (overlapping export)
    data[-1][4] = "99.5"
    write_export(tmp_path / "generation_data", COLUMNS, [data])
    settings = Settings().with_overrides(state_dir=tmp_path / "state")
    with Migration(settings, str(tmp_path / "generation_data")) as mig:
        mig.save(mig.plan())
        summary = run(mig, client=Recorder(), url=UNUSED)  # type: ignore[arg-type]
    out = summary.as_dict()
    assert (out["source_rows"], out["null_measures"], out["rejected"], out["duplicates"],
            out["points"]) == (7, 1, 1, 1, 4)
    assert out["superseded"] == 2  # power_mw and units of row 4 replaced by row 7's
    assert out["field_values"] == 8  # 4 points × (power_mw, units)
    assert out["source_rows"] == out["points"] + out["null_measures"] + out["rejected"] + \
        out["duplicates"]
    for words in ("7 rows read", "4 points written", "1 without any measure value",
                  "1 rejected", "1 on a point another row also has", "8 field values"):
        assert words in out["explain"], out["explain"]
    (p,) = out["partitions"]
    (ex,) = p["duplicate_examples"]
    assert ex["series"] == "region=north,source=hydro" and ex["time"].endswith(".000000007Z")
    assert [r.rsplit(":", 1)[1] for r in ex["rows"]] == ["4", "7"]
    assert sorted(ex["fields_superseded"]) == ["power_mw", "units"]


def test_run_opens_the_dynamodb_store_with_its_region_and_queue(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB and SQS through moto (AWS cannot run here): the rejects of a run land in
    the table of the configured region."""
    from moto import mock_aws

    from onsflux.state.store import open_store

    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(k, v)
    data = rows(3)
    data[0][4] = "NaN"
    write_export(tmp_path / "generation_data", COLUMNS, [data])
    with mock_aws():
        import boto3

        queue = boto3.client("sqs", region_name="sa-east-1").create_queue(QueueName="dlq")
        table = open_store("dynamodb://onsflux-state", region="sa-east-1",
                           queue_url=queue["QueueUrl"])
        table.create_table()  # type: ignore[attr-defined]
        settings = Settings().with_overrides(
            state_dir=tmp_path / "state", state="dynamodb://onsflux-state",
            aws_region="sa-east-1", dlq_queue_url=queue["QueueUrl"])
        store = MigrationStore(tmp_path / "migration.sqlite")
        with Migration(settings, str(tmp_path / "generation_data"), store=store) as mig:
            mig.save(mig.plan())
            summary = run(mig, client=Recorder(), url=UNUSED)  # type: ignore[arg-type]
            (p,) = mig.partitions()
        assert summary.failed == 0, summary.as_dict()
        got = table.rejects(f"migrate:{p.id}")
    assert got.height == 1 and "NaN" in got["reason"][0]


# ------------------------------------------------------------------ never left running

def test_an_unexpected_error_fails_the_partition_with_its_stage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_export(tmp_path / "generation_data", COLUMNS, [rows(3)])
    settings = Settings().with_overrides(state_dir=tmp_path / "state")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("energy_source")

    monkeypatch.setattr(sys.modules["onsflux.migrate.run"], "encode_lines", broken)
    with Migration(settings, str(tmp_path / "generation_data")) as mig:
        mig.save(mig.plan())
        summary = run(mig, client=Recorder(), url=UNUSED)  # type: ignore[arg-type]
        (p,) = mig.partitions()
    assert p.status == FAILED and summary.failed == 1
    assert p.error is not None and "encode stage" in p.error and p.id in p.error
    assert "KeyError" in p.error


def test_an_interrupted_partition_is_not_left_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_export(tmp_path / "generation_data", COLUMNS, [rows(3)])
    settings = Settings().with_overrides(state_dir=tmp_path / "state")

    def interrupt(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(sys.modules["onsflux.migrate.run"], "map_frame", interrupt)
    with Migration(settings, str(tmp_path / "generation_data")) as mig:
        mig.save(mig.plan())
        with pytest.raises(KeyboardInterrupt):
            run(mig, client=Recorder(), url=UNUSED)  # type: ignore[arg-type]
        (p,) = mig.partitions()
    assert p.status == FAILED and "interrupted" in (p.error or "")


# ------------------------------------------------------------------ 11. tags and fields

def test_plan_lists_tags_and_fields_and_warns_when_a_measure_becomes_a_tag(
        tmp_path: Path) -> None:
    cols = [("region", "VARCHAR"), ("energy_source", "VARCHAR"), ("measure_name", "VARCHAR"),
            ("time", "TIMESTAMP"), ("power_mw", "DOUBLE"), ("status", "VARCHAR")]
    data = [["north" if i % 2 else "south", "hydro", "metrics", ts(T0 + i * H),
             f"{i}.5", f"ok after {i} checks"] for i in range(200)]
    src = tmp_path / "generation_data"
    write_export(src, cols, [data])
    state = tmp_path / "state"
    as_field = tmp_path / "mapping.toml"
    as_field.write_text('[tables.generation_data]\nfields = { status = "status" }\n')
    r = cli(state, "plan", "--source", str(src), "--mapping", str(as_field), "--json")
    assert r.exit_code == 0, r.output
    (t,) = json.loads(r.stdout)["tables"]
    assert t["tags"] == ["region", "source"] and t["series"] == 2
    assert t["fields"] == {"power_mw": "float", "status": "string"}
    assert not json.loads(r.stdout)["warnings"]
    default = tmp_path / "default.toml"
    default.write_text("")
    r = cli(state, "plan", "--source", str(src), "--mapping", str(default), "--yes")
    assert r.exit_code == 0, r.output
    assert "tags region, source, status; fields power_mw (float)" in r.stdout
    err = " ".join(r.stderr.split())
    assert "VARCHAR column 'status' becomes tag 'status'" in err
    assert "multiplies the series from 2 to 200" in err
    assert "100× the 2 of the previous plan" in err


def test_plan_reports_duplicates_in_text(tmp_path: Path) -> None:
    data = rows(5)
    data.append(list(data[2]))
    data[-1][4] = "42.5"
    write_export(tmp_path / "generation_data", COLUMNS, [data])
    r = cli(tmp_path / "state", "plan", "--source", str(tmp_path / "generation_data"), "--yes")
    assert r.exit_code == 0, r.output
    err = " ".join(r.stderr.split())
    assert "1 rows land on a point (series and time) another row also has (2 field values " \
           "superseded)" in err
    assert "region=north,source=hydro at 2024-01-01T02:00:00.000000007Z" in err


# ------------------------------------------------------------------ same plant, same tags

def test_a_migrated_plant_carries_the_tag_values_the_ingest_writes(tmp_path: Path) -> None:
    from onsflux.sources.adapters import make_adapter
    from onsflux.sources.detect import detect_format

    ons = pl.DataFrame({
        "din_instante": ["2024-01-01 00:00:00"], "id_subsistema": ["SE"],
        "nom_subsistema": ["SUDESTE"], "id_estado": ["PR"], "nom_estado": ["PARANA"],
        "cod_modalidadeoperacao": ["TIPO I"], "nom_tipousina": ["HIDROELÉTRICA"],
        "nom_tipocombustivel": ["Hídrica"], "nom_usina": ["Itaipu 60 Hz"],
        "id_ons": ["PRUHIT6"], "ceg": ["UHE.PH.PR.000001-1.01"], "val_geracao": ["7000.5"],
        "_row": pl.Series([1], dtype=pl.UInt64)})
    (chunk,) = [c for c in make_adapter(detect_format(ons.columns[:-1]), "ons.csv").adapt(ons)
                if c.frame.height]
    plant_tags = ("region", "source", "plant", "plant_name")
    ingested = {t: chunk.frame[t][0] for t in plant_tags}
    assert ingested["plant_name"] == "Itaipu 60 Hz"  # the name as ONS publishes it
    cols = [("subsystem", "VARCHAR"), ("energy_source", "VARCHAR"), ("plant_name", "VARCHAR"),
            ("measure_name", "VARCHAR"), ("time", "TIMESTAMP"), ("power_mw", "DOUBLE")]
    write_export(tmp_path / "generation_data", cols, [
        [["Sudeste", "HIDROELÉTRICA", "Itaipu 60 Hz", "metrics", ts(T0), "7000.5"],
         ["Sudeste/Centro-Oeste?", "hydro", "Itaipu 60 Hz", "metrics", ts(T0), "1.5"]]])
    with Migration(Settings().with_overrides(state_dir=tmp_path / "s"),
                   str(tmp_path / "generation_data")) as mig:
        plan = mig.plan()
        mig.save(plan)
        summary = run(mig, dry_run=True)
        (p,) = mig.partitions()
        (chunk2,) = list(mig.source.chunks(p.table_name, p.start_ns, p.stop_ns, p.files))
    from onsflux.migrate.mapping import map_frame

    mapped = map_frame(mig.mapping.table("generation_data"), chunk2.frame, chunk2.types,
                       source="x")
    first = mapped.frame.row(0, named=True)
    assert {t: first[t] for t in plant_tags} == ingested
    assert set(mapped.tags) == {"region", "source", "plant", "plant_name"}
    # a value the catalog does not know is kept, counted and named by plan
    assert mapped.unresolved == {"region": ["Sudeste/Centro-Oeste?"]}
    assert any("region values the catalog does not know" in w and "Centro-Oeste?" in w
               for w in plan.warnings)
    assert summary.failed == 0


def test_migrated_load_gets_the_series_key_of_ingested_load() -> None:
    """The ONS load files are the total load (catalog tag_defaults): a migrated load row
    without a sector gets ``sector=total`` too, not a parallel series."""
    from onsflux import catalog
    from onsflux.migrate.mapping import default_mapping, map_frame

    tm = default_mapping().table("consumption_data")
    frame = pl.DataFrame({"subsystem": ["Sudeste", "N"], "measure_name": ["load", "load"],
                          "time": [T0, T0], "demand_mw": [41000.5, 5000.0]})
    types = {"subsystem": "VARCHAR", "measure_name": "VARCHAR", "time": "TIMESTAMP",
             "demand_mw": "DOUBLE"}
    mapped = map_frame(tm, frame, types, source="x")
    assert sorted(mapped.tags) == ["region", "sector"]
    assert mapped.frame.select("region", "sector").rows() == [("southeast", "total"),
                                                              ("north", "total")]
    assert catalog.MEASUREMENTS["consumption_data"].tag_defaults == {"sector": "total"}
