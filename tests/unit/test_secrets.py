"""Secrets from Secrets Manager — moto stands in for it (AWS cannot run here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from onsflux.exceptions import ConfigError
from onsflux.secrets import resolve_secrets
from onsflux.settings import Settings


@pytest.fixture
def sm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        import boto3

        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_token_and_keys_come_from_the_store(sm: Any, tmp_path) -> None:
    token = sm.create_secret(Name="influx", SecretString="tok-SECRET-123")["ARN"]
    keys = sm.create_secret(Name="keys", SecretString="k1,k2\n")["ARN"]
    s = resolve_secrets(Settings(state_dir=tmp_path, influxdb_token_secret_arn=token,
                                 api_keys_secret_arn=keys))
    assert s.influxdb_token is not None and s.influxdb_token.get_secret_value() == "tok-SECRET-123"
    assert s.api_keys is not None and s.api_keys.get_secret_value() == "k1,k2"
    assert "tok-SECRET-123" not in repr(s)


def test_an_explicit_value_wins_and_nothing_is_fetched(tmp_path) -> None:
    s = Settings(state_dir=tmp_path, influxdb_token="given", influxdb_token_secret_arn="arn:x")
    assert resolve_secrets(s, client=object()).influxdb_token.get_secret_value() == "given"  # type: ignore[union-attr]


def test_missing_or_empty_secret_is_a_clear_config_error(sm: Any, tmp_path) -> None:
    with pytest.raises(ConfigError, match="secret arn:aws:secretsmanager.*ResourceNotFoundException"):
        resolve_secrets(Settings(state_dir=tmp_path, influxdb_token_secret_arn=(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")))
    empty = sm.create_secret(Name="empty", SecretString=" ")["ARN"]
    with pytest.raises(ConfigError, match="is empty: store the value"):
        resolve_secrets(Settings(state_dir=tmp_path, api_keys_secret_arn=empty))
