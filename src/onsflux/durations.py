"""Durations as InfluxDB writes them. Pure: no I/O, no settings.

Two spellings meet in onsflux: the one users type and InfluxQL speaks (``2555d``,
``1w2d``, ``INF``) and the Go form ``SHOW RETENTION POLICIES`` prints (``61320h0m0s``).
They live here, below settings, the query spec and the InfluxDB admin code that all read
them, so none of those has to import another to parse a duration.
"""

from __future__ import annotations

import math
import re

from .exceptions import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def duration_seconds(text: str) -> int:
    """Parse an InfluxDB duration such as ``2555d`` or ``1w2d``; ``INF`` means forever (0)."""
    if text.upper() == "INF":
        return 0
    total, number = 0, ""
    for ch in text:
        if ch.isdigit():
            number += ch
        elif ch in _UNITS and number:
            total += int(number) * _UNITS[ch]
            number = ""
        else:
            raise ConfigError(f"invalid duration {text!r}: use forms like 2555d, 12h, 30m")
    if number or total == 0:
        raise ConfigError(f"invalid duration {text!r}: use forms like 2555d, 12h, 30m")
    return total


def go_duration_seconds(text: str) -> float:
    """Seconds in a Go duration as ``SHOW RETENTION POLICIES`` prints it (``61320h0m0s``).

    ``0s`` means infinite on InfluxDB 1.x; returned as ``math.inf``.
    """
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(ns|us|µs|ms|h|m|s)", text):
        total += float(number) * _GO_UNITS[unit]
    return math.inf if total == 0 else total
