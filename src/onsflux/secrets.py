"""Secrets from a secrets store: the InfluxDB token and the API keys from Secrets Manager.

``resolve_secrets(settings)`` returns settings whose ``influxdb_token`` / ``api_keys`` are
filled from the secrets named by ``ONSFLUX_INFLUXDB_TOKEN_SECRET_ARN`` /
``ONSFLUX_API_KEYS_SECRET_ARN`` — unless the value itself is already set (an explicit
environment value wins). Values stay ``SecretStr``: never logged, never in messages.
Called once per process (a Lambda cold start), not per request.
"""

from __future__ import annotations

from typing import Any

from .aws import translate_botocore
from .exceptions import ConfigError
from .settings import Settings


def fetch_secret(arn: str, *, region: str, client: Any = None) -> str:
    """The secret's string value; errors name the secret, never its value."""
    from botocore.exceptions import BotoCoreError, ClientError

    if client is None:
        import boto3

        client = boto3.client("secretsmanager", region_name=region)
    try:
        value: str | None = client.get_secret_value(SecretId=arn).get("SecretString")
    except (ClientError, BotoCoreError) as exc:
        raise translate_botocore(exc, service="Secrets Manager", where=f"secret {arn}",
                                 terminal=ConfigError) from exc
    if not value or not value.strip():
        raise ConfigError(f"secret {arn} is empty: store the value with "
                          "`aws secretsmanager put-secret-value` (see deploy/README.md)")
    return value.strip()


def resolve_secrets(settings: Settings, *, client: Any = None) -> Settings:
    changes: dict[str, Any] = {}
    if settings.influxdb_token is None and settings.influxdb_token_secret_arn:
        changes["influxdb_token"] = fetch_secret(settings.influxdb_token_secret_arn,
                                                 region=settings.aws_region, client=client)
    if settings.api_keys is None and settings.api_keys_secret_arn:
        changes["api_keys"] = fetch_secret(settings.api_keys_secret_arn,
                                           region=settings.aws_region, client=client)
    return settings.with_overrides(**changes)
