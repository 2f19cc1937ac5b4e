"""s3:// listing and reading against a real S3 server (SeaweedFS, started here)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from onsflux.exceptions import ServerUnavailable, SourceError
from onsflux.settings import Settings
from onsflux.sources import list_objects, read_object
from tests.support.s3 import S3Server, free_port

pytestmark = pytest.mark.integration

BUCKET = "onsflux-test"
GEN_CSV = (
    "din_instante;id_subsistema;nom_subsistema;id_estado;nom_estado;cod_modalidadeoperacao;"
    "nom_tipousina;nom_tipocombustivel;nom_usina;id_ons;ceg;val_geracao\n"
    "2024-01-01 00:00:00;SE;SUDESTE;PR;PARANA;TIPO I;HIDROELÉTRICA;Hídrica;Itaipu;PRUHIT;C;"
    "14000,5\n"
    "2024-01-01 01:00:00;NE;NORDESTE;BA;BAHIA;TIPO III;EOLIELÉTRICA;Eólica;MMGD BA;;;12\n"
)


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[S3Server, Settings]]:
    with S3Server(buckets=(BUCKET,)) as server, pytest.MonkeyPatch.context() as mp:
        for k, v in server.env.items():
            mp.setenv(k, v)
        client = server.boto3_client()
        n = 5_000
        table = pa.table({
            "id_subsistema": ["SE"] * n, "nom_subsistema": ["SUDESTE"] * n,
            "din_instante": [(datetime(2024, 1, 1) + timedelta(hours=i)).isoformat(sep=" ")
                             for i in range(n)],
            "val_cargaenergiahomwmed": [str(float(i)) for i in range(n)],
        })
        buf = io.BytesIO()
        pq.write_table(table, buf, row_group_size=400)
        objects: dict[str, Any] = {
            "ons/2024/geracao.csv": GEN_CSV.encode(),
            "ons/2024/carga.parquet": buf.getvalue(),
            "ons/2024/.hidden.csv": b"x",
            "ons/2024/readme.md": b"x",
            "ons/other.csv": GEN_CSV.encode(),
            "elsewhere/x.csv": b"x",
        }
        for key, body in objects.items():
            client.put_object(Bucket=BUCKET, Key=key, Body=body)
        yield server, Settings(s3_endpoint_url=server.endpoint_url, chunk_rows=1_000)


def test_list_prefix_with_and_without_slash(s3: tuple[S3Server, Settings]) -> None:
    _, settings = s3
    for url in (f"s3://{BUCKET}/ons/", f"s3://{BUCKET}/ons"):
        refs = list_objects([url], settings)
        assert [r.url for r in refs] == [
            f"s3://{BUCKET}/ons/2024/carga.parquet",
            f"s3://{BUCKET}/ons/2024/geracao.csv",
            f"s3://{BUCKET}/ons/other.csv",
        ]
        assert all(r.etag and r.size > 0 and r.mtime_ns > 0 for r in refs)
        assert refs[1].size == len(GEN_CSV.encode())
        assert refs[1].fingerprint == f"etag:{refs[1].etag}"


def test_list_single_key(s3: tuple[S3Server, Settings]) -> None:
    _, settings = s3
    [ref] = list_objects([f"s3://{BUCKET}/ons/2024/geracao.csv"], settings)
    assert ref.etag and ref.size == len(GEN_CSV.encode())


def test_missing_key_and_bucket(s3: tuple[S3Server, Settings]) -> None:
    _, settings = s3
    with pytest.raises(SourceError, match="nope.csv"):
        list_objects([f"s3://{BUCKET}/ons/nope.csv"], settings)
    with pytest.raises(SourceError, match="no-such-bucket"):
        list_objects(["s3://no-such-bucket/x.csv"], settings)


def test_read_csv_from_s3(s3: tuple[S3Server, Settings]) -> None:
    _, settings = s3
    [ref] = list_objects([f"s3://{BUCKET}/ons/2024/geracao.csv"], settings)
    [chunk] = list(read_object(ref, settings))
    assert chunk.source == ref.url and chunk.measurement == "generation_data"
    assert chunk.frame["power_mw"].to_list() == [14000.5, 12.0]
    assert chunk.frame["plant_id"].to_list() == ["PRUHIT", None]  # id_ons kept as published (issue 9 item 16)
    assert chunk.frame["source"].to_list() == ["hydro", "wind"]


def test_read_parquet_from_s3_streams(s3: tuple[S3Server, Settings]) -> None:
    _, settings = s3
    [ref] = list_objects([f"s3://{BUCKET}/ons/2024/carga.parquet"], settings)
    chunks = list(read_object(ref, settings))
    assert [c.frame.height for c in chunks] == [1_000] * 5
    assert sum(c.source_rows for c in chunks) == 5_000
    assert chunks[-1].frame["demand_mw"][-1] == 4_999.0
    assert chunks[0].frame["region"][0] == "southeast"
    assert all(c.rejects.height == 0 for c in chunks)


def test_unreachable_endpoint_is_transient(s3: tuple[S3Server, Settings]) -> None:
    settings = Settings(s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServerUnavailable):
        list_objects([f"s3://{BUCKET}/ons/"], settings)
