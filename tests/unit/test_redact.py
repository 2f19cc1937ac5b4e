"""Every credential form is redacted, and prose around it survives (``onsflux.redact``)."""

from __future__ import annotations

import base64
import logging

import pytest

from onsflux.redact import install_log_redaction, redact, redact_data

BASIC = base64.b64encode(b"admin:s3cr3t-pass").decode()


@pytest.mark.parametrize(("text", "secret"), [
    (f"401 Unauthorized: Authorization: Basic {BASIC}", BASIC),
    (f'proxy said: header "Authorization: basic {BASIC}" refused', BASIC),
    ("invalid header: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "eyJhbGciOiJIUzI1NiJ9"),
    ("Authorization: Token Zm9vYmFyOnNlY3JldA== not valid", "Zm9vYmFyOnNlY3JldA=="),
    ("GET /query?db=x&u=admin&p=hunter2&q=SELECT", "hunter2"),
    ("GET /query?u=admin&p=hunter2", "admin"),
    ("error at http://admin:hunter2@influx.internal:8086/write?db=x", "hunter2"),
    ("error at https://admin@influx.internal:8086/", "admin@"),
    ("password=hunter2 rejected", "hunter2"),
    ('{"token": "abc123def"}', "abc123def"),
    ("https://bucket.s3.amazonaws.com/k?X-Amz-Signature=deadbeef01&X-Amz-Credential=AKIA1",
     "deadbeef01"),
    ("headers: X-API-Key: test-key-123", "test-key-123"),
    ("Authorization: opaque-credential-9", "opaque-credential-9"),
])
def test_every_credential_form_is_masked(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out, out
    assert "***" in out


def test_prose_and_data_survive() -> None:
    for text in ["the token expired: log in again", "basic authentication is disabled",
                 "percentile p=0.95 of power_mw", "Token Authentication failed",
                 "SELECT max(\"demand_mw\") FROM \"consumption_data\" WHERE \"region\" = 'south'",
                 "http://127.0.0.1:8086/query",
                 "missing API key: send X-API-Key or Authorization: Bearer"]:
        assert redact(text) == text


def test_exact_secret_values_are_removed_too() -> None:
    assert redact("echo: hunter", extra=["hunter", None, ""]) == "echo: ***"
    assert redact("a b", extra=["a"]) == "a b"  # too short to mask safely


def test_redact_data_walks_json() -> None:
    data = {"errors": [f"Basic {BASIC}", {"url": "http://u:pw12@h/"}], "n": 3}
    out = redact_data(data)
    assert BASIC not in str(out) and "pw12" not in str(out) and out["n"] == 3


def test_log_records_of_any_logger_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    with caplog.at_level(logging.WARNING):
        logging.getLogger("httpx.somewhere").warning("retrying %s", "http://a:hunter2@h/?p=x1")
    assert "hunter2" not in caplog.text and "x1" not in caplog.text


def test_state_files_never_keep_echoed_credentials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Object errors, dead letters, reject reasons and migration partition errors."""
    from onsflux.frames import make_rejects
    from onsflux.migrate.state import FAILED, MigrationStore, Partition
    from onsflux.state.store import SqliteStateStore

    echo = f"HTTP 401 from proxy: Authorization: Basic {BASIC} at http://admin:pw-9x@h/?p=pw-9x"
    path = tmp_path / "state.sqlite"
    store = SqliteStateStore(path)
    rec = store.begin("a.csv", "f")
    store.add_rejects("a.csv", make_rejects("a.csv", [1], "power_mw", ["1"], echo))
    rec.status, rec.error = FAILED, echo
    store.finish(rec)
    store.fail("a.csv", "f", "write_rejected", echo)
    store.close()
    migrations = MigrationStore(path)
    p = Partition("m", "p1", "t", "b", "consumption_data", 0, 10)
    migrations.add_partition(p)
    p.status, p.error = FAILED, echo
    migrations.finish(p)
    migrations.close()
    raw = b"".join(f.read_bytes() for f in tmp_path.iterdir())
    assert BASIC.encode() not in raw and b"pw-9x" not in raw
    assert b"Basic ***" in raw
