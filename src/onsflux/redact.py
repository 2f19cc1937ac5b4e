"""One redaction function for every edge where text leaves the process. Pure.

Servers and proxies echo credentials back in error bodies (a 401 page quoting the
``Authorization`` header, a URL with ``?u=admin&p=secret`` in a 1.x error, a proxy
repeating ``http://user:pass@host``). Whatever carries text out of onsflux — CLI
messages and JSON, the state store (object errors, dead letters, rejects), HTTP error
bodies and log records — passes it through ``redact`` first, so no credential form
survives, whether or not we know the secret's value:

- ``Authorization`` schemes: ``Basic …``, ``Bearer …``, ``Token …`` (InfluxDB 2.x);
- query parameters: ``u=`` / ``p=`` (InfluxDB 1.x), ``password=``, ``token=``,
  ``api_key=``, ``X-Amz-Signature=`` / ``-Credential=`` / ``-Security-Token=``;
- userinfo in URLs: ``scheme://user:pass@host`` → ``scheme://***@host``;
- ``X-API-Key: …`` headers;
- and any exact secret value the caller holds (``extra``), e.g. the configured token.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

# ``Basic dXNlcjpwYXNz`` / ``Bearer eyJ…`` / ``Token abc==``: the scheme word, then a
# credential-looking word (a digit, mixed case or token68 punctuation), so prose such as
# "token expired" or "basic authentication" stays readable
_SCHEMES = re.compile(r"(?i)\b(basic|bearer|token)(\s+)([A-Za-z0-9\-._~+/]+=*)")
_AUTH_HEADER = re.compile(
    r"(?i)\b(authorization\s*[:=]\s*\"?)(?!(?:basic|bearer|token)\b)([^\s\"',;]+)")
# single-letter 1.x parameters only after ? or &, so "p=0.95" in prose survives
_SHORT_PARAMS = re.compile(r"(?i)([?&](?:u|p)=)([^&\s\"'#]+)")
_LONG_PARAMS = re.compile(
    r"(?i)\b((?:password|passwd|pwd|token|access_token|api_key|apikey|secret|"
    r"x-amz-signature|x-amz-credential|x-amz-security-token)\"?\s*[=:]\s*\"?)([^&\s\"'#,;]+)"
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/@\s\"']+)@")
_API_KEY_HEADER = re.compile(r"(?i)\b(x-api-key\s*[:=]\s*\"?)([^\s\"',;]+)")
# one cheap search first: most text (numbers, timestamps, tag values) has no trigger word
_TRIGGER = re.compile(r"(?i)basic|bearer|token|authorization|x-api-key|://|[?&][up]=|passw|pwd|"
                      r"secret|api_?key|x-amz-")


def redact(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` with every credential form replaced by ``***``.

    ``extra``: exact secret values to remove as well (empty or short values are ignored,
    so a one-character password cannot blank out a message).
    """
    if not text:
        return text
    for secret in extra:
        if secret and len(secret) >= 3:
            text = text.replace(secret, MASK)
    if not _TRIGGER.search(text):
        return text
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _SCHEMES.sub(_scheme, text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _SHORT_PARAMS.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _LONG_PARAMS.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _API_KEY_HEADER.sub(lambda m: f"{m.group(1)}{MASK}", text)


def _looks_secret(word: str) -> bool:
    return word != MASK and len(word) >= 4 and (
        any(c.isdigit() for c in word) or any(c in "+/=_-.~" for c in word)
        or (any(c.isupper() for c in word) and any(c.islower() for c in word[1:])
            and not (word[0].isupper() and word[1:].islower())))


def _scheme(m: re.Match[str]) -> str:
    word = m.group(3)
    return f"{m.group(1)}{m.group(2)}{MASK}" if _looks_secret(word) else m.group(0)


def redact_data(value: Any) -> Any:
    """``redact`` applied to every string inside JSON-like data (dicts, lists, tuples)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


_installed = False


def install_log_redaction() -> None:
    """Make every log record of the process pass through ``redact`` (idempotent).

    A record factory rather than a handler filter: it applies to records of every logger
    (ours, httpx, uvicorn, botocore) whichever handlers are configured later.
    """
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string stays the logger's problem
            return record
        clean = redact(message)
        if clean == message:
            return record  # nothing to mask: the record keeps its shape
        # mask inside the arguments first, so formatters that read ``record.args``
        # (uvicorn's access lines unpack five of them) still get their tuple
        if isinstance(record.args, tuple) and isinstance(record.msg, str):
            record.msg = redact(record.msg)
            record.args = tuple(a if isinstance(a, int | float) else redact(str(a))
                                for a in record.args)
            try:
                if record.getMessage() == clean:
                    return record
            except Exception:  # noqa: BLE001 - fall through to the flat record
                pass
        record.msg, record.args = clean, ()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
