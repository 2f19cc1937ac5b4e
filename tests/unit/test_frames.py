"""The one nanosecond → RFC 3339 formatter every stage uses."""

import pytest

from onsflux.frames import rfc3339


@pytest.mark.parametrize(("ns", "text", "seconds"), [
    (0, "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
    (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456789Z", "2023-11-14T22:13:20Z"),
    (1_700_000_000_000_000_001, "2023-11-14T22:13:20.000000001Z", "2023-11-14T22:13:20Z"),
    (-1, "1969-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59Z"),  # floor, never rounds up
])
def test_exact_and_floor(ns: int, text: str, seconds: str) -> None:
    assert rfc3339(ns) == text and rfc3339(ns, seconds=True) == seconds
