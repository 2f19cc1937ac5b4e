"""Log redaction keeps a record's shape: formatters that read ``record.args`` still work.

uvicorn's access formatter unpacks ``record.args`` (client, method, path, version,
status); a redaction that flattens every record to ``args = ()`` made each request log
a "--- Logging error ---" traceback on ``onsflux serve``'s stderr instead of its line.
"""

from __future__ import annotations

import io
import logging
import sys

from uvicorn.logging import AccessFormatter

from onsflux.redact import install_log_redaction


def _access_line(path: str) -> tuple[str, str]:
    install_log_redaction()
    out, err = io.StringIO(), io.StringIO()
    logger = logging.getLogger("onsflux.test.access")
    handler = logging.StreamHandler(out)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s',
                                         use_colors=False))
    logger.addHandler(handler)
    logger.propagate = False
    raising, logging.raiseExceptions = logging.raiseExceptions, True  # errors go to stderr
    saved, sys.stderr = sys.stderr, err
    try:  # the call uvicorn makes for each request
        logger.warning('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
    finally:
        sys.stderr = saved
        logging.raiseExceptions = raising
        logger.removeHandler(handler)
    return out.getvalue(), err.getvalue()


def test_uvicorn_access_lines_survive_redaction() -> None:
    line, err = _access_line("/?q=carga")
    assert err == "" and line.strip() == '127.0.0.1:5000 - "GET /?q=carga HTTP/1.1" 200 OK'


def test_a_secret_in_an_access_line_is_masked_and_the_line_kept() -> None:
    line, err = _access_line("/query?u=admin&p=s3cr3t-Pa55")
    assert err == "" and "s3cr3t-Pa55" not in line
    assert line.startswith('127.0.0.1:5000 - "GET /query?u=') and line.strip().endswith(" 200 OK")
