"""One translation of botocore errors into ours, for every AWS service onsflux calls.

S3, Timestream, DynamoDB and Secrets Manager fail the same ways: throttling, 5xx and
unreachable endpoints may pass (``ServerUnavailable``, retried), everything else will not
(the caller's terminal error class: ``SourceError``, ``StateStoreError``, ``ConfigError``).
Declared once so a new transient code is learned everywhere at once.
"""

from __future__ import annotations

from typing import Any

from .exceptions import OnsfluxError, ServerUnavailable, SourceError

#: error codes that mean "try again later", across services
TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "SlowDown", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException", "RequestTimeout", "RequestTimeoutException",
    "InternalServerError", "InternalServerException", "InternalServiceError",
    "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
})


def client_config(**options: Any) -> Any:
    """A botocore ``Config`` with botocore's own retries off: ``onsflux.retry`` retries
    (one attempt here, so attempts are never multiplied). ``options`` go to ``Config``."""
    from botocore.config import Config

    return Config(retries={"max_attempts": 1, "mode": "standard"}, **options)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def translate_botocore(
    exc: BaseException, *, service: str, where: str,
    terminal: type[OnsfluxError] = SourceError,
) -> OnsfluxError:
    """The most specific onsflux error for a botocore ``ClientError``/``BotoCoreError``.

    ``where`` names the object, table, query or secret (never a secret's value);
    ``terminal`` is raised for errors retrying cannot fix.
    """
    if isinstance(exc, OnsfluxError):
        return exc
    where = where if len(where) < 160 else where[:157] + "..."
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = error_code(exc)
        message = response.get("Error", {}).get("Message") or code
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in TRANSIENT_CODES or status >= 500 or status == 429:
            return ServerUnavailable(f"{where}: {service} {code or status}: {message}",
                                     status=status or None)
        return _terminal(terminal, f"{service} {code or status}: {message}", where)
    name = type(exc).__name__
    if any(k in name for k in ("Connection", "Timeout", "Endpoint")):
        return ServerUnavailable(f"{where}: cannot reach {service}: {exc}")
    if "Credentials" in name:
        return _terminal(terminal, f"no AWS credentials: {exc}", where)
    return _terminal(terminal, f"{service} error {name}: {exc}", where)


def _terminal(cls: type[OnsfluxError], message: str, where: str) -> OnsfluxError:
    if issubclass(cls, SourceError):
        return cls(message, path=where)
    return cls(f"{where}: {message}")
