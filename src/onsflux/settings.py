"""One settings object, built once from the environment (and flags), passed down.

No other module reads ``os.environ``: a test or a Lambda handler builds a ``Settings``
and hands it to the library, so behaviour never depends on hidden global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .durations import duration_seconds

__all__ = ["Settings", "duration_seconds"]


class Settings(BaseSettings):
    """Configuration of every onsflux job. Environment names are given per field."""

    model_config = SettingsConfigDict(env_prefix="ONSFLUX_", extra="ignore", frozen=True)

    # --- InfluxDB: names shared with the platform we replace (no ONSFLUX_ prefix) ---
    influxdb_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("INFLUXDB_URL", "influxdb_url"),
        description="Existing server to use; when unset, the local server under state_dir.",
    )
    influxdb_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("INFLUXDB_TOKEN", "influxdb_token")
    )
    influxdb_org: str = Field(
        default="ons-energy", validation_alias=AliasChoices("INFLUXDB_ORG", "influxdb_org")
    )
    influxdb_username: str | None = Field(
        default=None, validation_alias=AliasChoices("INFLUXDB_USERNAME", "influxdb_username")
    )
    influxdb_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("INFLUXDB_PASSWORD", "influxdb_password")
    )

    influxdb_token_secret_arn: str | None = Field(
        default=None,
        description="ONSFLUX_INFLUXDB_TOKEN_SECRET_ARN: read the token from Secrets Manager",
    )

    # --- where onsflux keeps its own things ---
    state_dir: Path = Field(default=Path(".onsflux"), description="ONSFLUX_STATE_DIR")
    state: str | None = Field(
        default=None,
        description="ONSFLUX_STATE: SQLite path (default STATE_DIR/state.sqlite) or dynamodb://table",
    )

    dlq_queue_url: str | None = Field(
        default=None, description="ONSFLUX_DLQ_QUEUE_URL: SQS queue that also receives dead letters"
    )

    # --- write path ---
    batch_lines: int = Field(default=5000, gt=0)
    batch_bytes: int = Field(default=4 * 1024 * 1024, gt=1024)
    write_workers: int = Field(default=4, gt=0, le=64)
    gzip: Literal["auto", "on", "off"] = Field(
        default="auto", description="auto: gzip only when the server is not on loopback"
    )
    chunk_rows: int = Field(
        default=100_000, gt=0,
        description="ONSFLUX_CHUNK_ROWS: rows read per chunk; memory follows it (100k: about "
        "300 MiB peak for any file size, measured by onsflux bench ingest)",
    )
    verify: Literal["sample", "count"] = Field(
        default="sample",
        description="ONSFLUX_VERIFY: how ingest reads back an object. sample (default): the "
        "server's acknowledgements plus exact per-series counts of a few series; count: "
        "per-field totals over the object's whole time range (a server scan of every point "
        "written, about a third of the write's own server time)",
    )

    # --- resilience ---
    timeout_seconds: float = Field(default=15.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_base_seconds: float = Field(default=0.25, ge=0)
    backoff_max_seconds: float = Field(default=8.0, ge=0)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)

    # --- validation ---
    retention: str = Field(default="2555d", description="retention policy duration (7 years)")
    future_tolerance_seconds: int = Field(default=3600, ge=0)

    # --- S3 (and S3-compatible servers) ---
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "ONSFLUX_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "s3_endpoint_url"
        ),
    )
    aws_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION", "aws_region"),
    )

    # --- query fallback: the Parquet files the ingest read, queried when InfluxDB is down ---
    fallback_path: str | None = Field(
        default=None, description="ONSFLUX_FALLBACK_PATH: local folder or s3://bucket/prefix"
    )

    rollups: bool = Field(
        default=True,
        description="ONSFLUX_ROLLUPS=false: never answer from the hourly rollups (query/rollup.py)",
    )

    # --- API (question answering) ---
    api_keys: SecretStr | None = Field(default=None, description="ONSFLUX_API_KEYS, comma separated")
    api_keys_secret_arn: str | None = Field(
        default=None, description="ONSFLUX_API_KEYS_SECRET_ARN: API keys from Secrets Manager"
    )
    answer_mode: Literal["local", "bedrock"] = Field(
        default="local", description="ONSFLUX_ANSWER_MODE=bedrock: Bedrock KB + model phrasing"
    )
    bedrock_model_id: str | None = Field(default=None, description="ONSFLUX_BEDROCK_MODEL_ID")
    bedrock_kb_id: str | None = Field(default=None, description="ONSFLUX_BEDROCK_KB_ID")
    api_auth: Literal["required", "disabled"] = Field(
        default="required", description="ONSFLUX_API_AUTH=disabled: no API key (local use only)"
    )

    # --- cutover (blue-green from Timestream) ---
    also_write: Literal["timestream"] | None = Field(
        default=None, description="ONSFLUX_ALSO_WRITE=timestream: ingest also writes every "
                                  "batch to Timestream (dual-write during the cutover)")
    timestream_database: str = Field(default="ons_energy_data",
                                     description="ONSFLUX_TIMESTREAM_DATABASE (blue)")
    timestream_shape: Literal["multi", "single"] = Field(
        default="multi", description="ONSFLUX_TIMESTREAM_SHAPE: how blue's tables hold a row "
        "(multi-measure records, or the legacy one measure per record); the cutover reads "
        "and dual-writes this one shape")

    @property
    def state_path(self) -> str:
        """Where the state store lives: an explicit ONSFLUX_STATE or STATE_DIR/state.sqlite."""
        return self.state or str(self.state_dir / "state.sqlite")

    @property
    def retention_seconds(self) -> int:
        return duration_seconds(self.retention)

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with flags applied (``None`` means: flag not given)."""
        given = {k: v for k, v in changes.items() if v is not None}
        if not given:
            return self
        unknown = set(given) - set(type(self).model_fields)
        if unknown:
            from .exceptions import ConfigError

            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        # validated like any other input (a str becomes SecretStr, "5" becomes 5); every
        # field is passed explicitly, so the environment cannot override what we hold
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values.update(given)
        return type(self)(**values)
