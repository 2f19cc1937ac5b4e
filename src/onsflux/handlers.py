"""AWS Lambda entry points. Same pipeline as the CLI; configuration from the environment.

Every handler is wrapped by :func:`onsflux.metrics.lambda_metrics`: what an invocation
records (the same metric names as ``/metrics``) reaches CloudWatch as embedded metric
format lines on stdout.

``s3_ingest`` processes every record of an S3 event notification. It returns a
per-record result and raises only when a retry can help (a transient failure: InfluxDB
down, throttled, timed out), so Lambda's own retries and its on-failure destination /
DLQ do their job. A terminal failure (a malformed file) is recorded as a dead letter and
reported in the result; retrying the same bytes could not help, so it does not raise.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from .exceptions import TransientError
from .metrics import lambda_metrics
from .redact import install_log_redaction, redact
from .retry import is_retryable
from .secrets import resolve_secrets
from .settings import Settings


class RetryableIngestError(TransientError):
    """Raised to Lambda when at least one record failed for a transient reason."""

    kind = "retryable"


install_log_redaction()  # every log line a handler writes goes through onsflux.redact


def s3_event_urls(event: dict[str, Any]) -> list[str]:
    """``s3://bucket/key`` for every record; keys arrive URL-encoded (spaces as ``+``)."""
    urls = []
    for record in event.get("Records", []):
        s3 = record.get("s3", {})
        bucket = s3.get("bucket", {}).get("name")
        key = s3.get("object", {}).get("key")
        if bucket and key:
            urls.append(f"s3://{bucket}/{unquote_plus(key)}")
    return urls


@lambda_metrics
def s3_ingest(
    event: dict[str, Any], context: Any = None, *, settings: Settings | None = None
) -> dict[str, Any]:
    """Ingest the objects an S3 event names; see the module docstring for retry semantics."""
    from .influx.client import InfluxClient
    from .influx.local import resolve_url
    from .ingest.pipeline import Ingestor
    from .sources.objects import list_objects
    from .state.store import store_for

    s = resolve_secrets(settings or Settings())
    results: list[dict[str, Any]] = []
    store = store_for(s)
    try:
        with InfluxClient(s, url=resolve_url(s)) as client:
            ingestor = Ingestor(s, store, client)
            for url in s3_event_urls(event):
                try:
                    refs = list_objects([url], s)
                except Exception as exc:  # noqa: BLE001 - reported per record, never lost
                    results.append({"key": url, "status": "failed", "error": redact(str(exc)),
                                    "retryable": is_retryable(exc)})
                    continue
                for ref in refs:
                    results.append(ingestor.ingest_object(ref).as_dict())
    finally:
        store.close()
    retryable = [r for r in results if r.get("retryable")]
    if retryable:
        raise RetryableIngestError(
            f"{len(retryable)} of {len(results)} records failed transiently "
            f"(first: {retryable[0]['key']}: {retryable[0]['error']}); Lambda will retry"
        )
    return {
        "records": len(results),
        "failed": sum(r["status"] == "failed" for r in results),
        "results": results,
    }


@lambda_metrics
def migrate_partition(
    event: dict[str, Any], context: Any = None, *, settings: Settings | None = None
) -> dict[str, Any]:
    """Run one migration partition (a Step Functions map item): same code as the CLI.

    ``event``: ``{"source": "timestream://db/table" | "s3://…", "partition": "ID",
    "mapping": PATH (optional; default: the mapping recorded with the plan)}``. Returns
    the partition's outcome; raises :class:`RetryableIngestError` when it failed for a
    transient reason (so the state machine retries), never for a terminal one.
    """
    from .influx.client import InfluxClient
    from .influx.local import resolve_url
    from .migrate import Migration
    from .migrate.run import _claim_and_run, record_metrics
    from .state.store import store_for

    s = resolve_secrets(settings or Settings())
    source, pid = event.get("source"), event.get("partition")
    if not source or not pid:
        from .exceptions import ConfigError

        raise ConfigError("event needs 'source' and 'partition'")
    rejects = store_for(s)
    try:
        with Migration(s, source, event.get("mapping"), table=event.get("table")) as mig, \
                InfluxClient(s, url=resolve_url(s)) as client:
            p = mig.partitions([pid])[0]
            client.ensure_database(p.bucket, s.retention)
            result = _claim_and_run(mig, client, pid, rejects)
            record_metrics(result)
    finally:
        rejects.close()
    if result.get("retryable"):
        raise RetryableIngestError(f"partition {pid}: {result['error']}")
    return result


_api_handler: Any = None


@lambda_metrics
def api(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """API Gateway → the FastAPI app through Mangum (built once per Lambda container)."""
    global _api_handler
    if _api_handler is None:
        from mangum import Mangum

        from .api import create_app

        _api_handler = Mangum(create_app(resolve_secrets(Settings())), lifespan="off")
    return _api_handler(event, context)  # type: ignore[no-any-return]
