"""ONS local time (America/Sao_Paulo, DST until 2019) → UTC; processed timestamps → UTC.

Expected instants are computed independently with zoneinfo (fold=0 is the earlier of
two repeated wall-clock times).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from onsflux.sources.timezone import (
    AmbiguityTracker,
    epoch_unit,
    localize,
    parse_naive,
    to_utc_ns,
)

SP = ZoneInfo("America/Sao_Paulo")


def utc_ns(local: str, fold: int = 0) -> int:
    dt = datetime.fromisoformat(local).replace(tzinfo=SP, fold=fold)
    return int(dt.astimezone(UTC).timestamp()) * 1_000_000_000


def exists(local: str) -> bool:
    dt = datetime.fromisoformat(local).replace(tzinfo=SP)
    back = dt.astimezone(UTC).astimezone(SP).replace(tzinfo=None)
    return back == dt.replace(tzinfo=None)


# (fall-back repeated local hour, spring-forward missing local hour), checked below
TRANSITIONS = {
    2016: ("2016-02-20 23:00", "2016-10-16 00:00"),
    2017: ("2017-02-18 23:00", "2017-10-15 00:00"),
    2018: ("2018-02-17 23:00", "2018-11-04 00:00"),
}


@pytest.mark.parametrize("year", sorted(TRANSITIONS))
def test_transition_dates_are_what_zoneinfo_says(year: int) -> None:
    repeated, missing = TRANSITIONS[year]
    assert utc_ns(repeated, 0) != utc_ns(repeated, 1)
    assert utc_ns(repeated, 1) - utc_ns(repeated, 0) == 3600 * 10**9
    assert not exists(missing)


@pytest.mark.parametrize("year", sorted(TRANSITIONS))
def test_fall_back_repeated_hour_resolved_by_file_order(year: int) -> None:
    repeated, _ = TRANSITIONS[year]
    base = datetime.fromisoformat(repeated)
    local = [base - timedelta(hours=2), base - timedelta(hours=1), base, base,
             base + timedelta(hours=1), base + timedelta(hours=2)]
    text = pl.Series("din_instante", [d.strftime("%Y-%m-%d %H:%M:%S") for d in local])
    res = localize(text, pl.DataFrame({"region": ["southeast"] * len(local)}))
    expected = [utc_ns(str(local[0])), utc_ns(str(local[1])), utc_ns(repeated, 0),
                utc_ns(repeated, 1), utc_ns(str(local[4])), utc_ns(str(local[5]))]
    assert res.utc_ns.to_list() == expected
    # an hourly series stays hourly in UTC across the change
    assert {b - a for a, b in zip(expected, expected[1:], strict=False)} == {3600 * 10**9}
    assert any("resolved by file order" in n for n in res.notes)
    assert not res.non_existent.any() and not res.duplicate.any()


@pytest.mark.parametrize("year", sorted(TRANSITIONS))
def test_spring_forward_missing_hour_is_flagged(year: int) -> None:
    _, missing = TRANSITIONS[year]
    base = datetime.fromisoformat(missing)
    local = [base - timedelta(hours=1), base, base + timedelta(hours=1)]
    text = pl.Series([d.strftime("%Y-%m-%dT%H:%M:%S") for d in local])
    res = localize(text)
    assert res.utc_ns.to_list() == [utc_ns(str(local[0])), None, utc_ns(str(local[2]))]
    assert res.non_existent.to_list() == [False, True, False]
    # 23:00 (UTC-3) and 01:00 (UTC-2) are one real hour apart
    assert res.utc_ns[2] - res.utc_ns[0] == 3600 * 10**9


def test_ambiguous_order_is_per_series_and_survives_chunk_boundaries() -> None:
    repeated = "2018-02-17 23:00:00"
    tracker = AmbiguityTracker()
    first = localize(pl.Series([repeated, repeated]),
                     pl.DataFrame({"region": ["south", "north"]}), tracker=tracker)
    assert first.utc_ns.to_list() == [utc_ns(repeated, 0)] * 2
    assert any("appeared once" in n for n in first.notes)
    second = localize(pl.Series([repeated, repeated, repeated]),
                      pl.DataFrame({"region": ["north", "south", "north"]}), tracker=tracker)
    assert second.utc_ns.to_list() == [utc_ns(repeated, 1), utc_ns(repeated, 1), None]
    assert second.duplicate.to_list() == [False, False, True]


def test_single_ambiguous_time_gets_earlier_instant() -> None:
    res = localize(pl.Series(["2017-02-18 23:00:00"]))
    assert res.utc_ns.to_list() == [utc_ns("2017-02-18 23:00", 0)]


@pytest.mark.parametrize(
    "text",
    ["2024-01-01 00:00:00", "2024-01-01T00:00:00", "01/01/2024 00:00", "01/01/2024 00:00:00",
     " 2024-01-01 00:00 ", "2024-01-01", "2024/01/01 00:00:00", "2024-01-01 00:00:00.000"],
)
def test_ons_date_formats(text: str) -> None:
    res = localize(pl.Series([text]))
    assert res.utc_ns.to_list() == [utc_ns("2024-01-01 00:00")]  # UTC-3 in 2024
    assert res.utc_ns[0] == int(datetime(2024, 1, 1, 3, tzinfo=UTC).timestamp()) * 10**9


def test_day_first_brazilian_order() -> None:
    assert parse_naive(pl.Series(["02/03/2024 10:00"])).to_list() == [datetime(2024, 3, 2, 10)]


def test_unparseable_and_missing() -> None:
    res = localize(pl.Series(["not a date", "", None, "2024-13-01 00:00"]))
    assert res.utc_ns.to_list() == [None] * 4
    assert res.unparseable.to_list() == [True, False, False, True]


def test_naive_parquet_datetimes_are_local() -> None:
    s = pl.Series([datetime(2018, 2, 17, 23), datetime(2018, 2, 17, 23)])
    res = localize(s, pl.DataFrame({"k": ["a", "a"]}))
    assert res.utc_ns.to_list() == [utc_ns("2018-02-17 23:00", 0), utc_ns("2018-02-17 23:00", 1)]


def test_aware_datetimes_are_instants() -> None:
    s = pl.Series([datetime(2024, 1, 1, 3, tzinfo=UTC)]).dt.convert_time_zone("America/Recife")
    assert localize(s).utc_ns.to_list() == [utc_ns("2024-01-01 00:00")]


# --- processed / wide timestamps -----------------------------------------------------------

T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 10**9


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2024-01-01T00:00:00Z", T0),
        ("2024-01-01T00:00:00+00:00", T0),
        ("2024-01-01 00:00:00Z", T0),
        ("2023-12-31T21:00:00-03:00", T0),
        ("2024-01-01T02:00:00+0200", T0),
        ("2024-01-01T00:00:00.250Z", T0 + 250_000_000),
        ("2024-01-01T00:00:00", T0),  # naive → UTC
        ("2024-01-01 00:00", T0),
        ("2024-01-01", T0),
        ("1704067200", T0),  # epoch seconds written as text
        ("nonsense", None),
        ("", None),
    ],
)
def test_processed_timestamp_strings(text: str, expected: int | None) -> None:
    out, _ = to_utc_ns(pl.Series([text]))
    assert out.to_list() == [expected]


@pytest.mark.parametrize(
    "value,unit",
    [(1_704_067_200, "s"), (1_704_067_200_000, "ms"), (1_704_067_200_000_000, "us"),
     (1_704_067_200_000_000_000, "ns")],
)
def test_epoch_unit_from_magnitude(value: int, unit: str) -> None:
    out, notes = to_utc_ns(pl.Series([value, value + 1]))
    assert out[0] == T0
    assert epoch_unit(pl.Series([value])) == unit
    assert any(f"read as {unit}" in n for n in notes)


def test_datetime_columns() -> None:
    naive = pl.Series([datetime(2024, 1, 1)])
    aware = pl.Series([datetime(2024, 1, 1, tzinfo=UTC)]).dt.convert_time_zone(
        "America/Sao_Paulo")
    assert to_utc_ns(naive)[0].to_list() == [T0]
    assert to_utc_ns(aware)[0].to_list() == [T0]
    assert to_utc_ns(pl.Series([datetime(2024, 1, 1).date()]))[0].to_list() == [T0]
