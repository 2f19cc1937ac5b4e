"""The query model: one ``QuerySpec`` that every dialect renders. Pure: no I/O.

A spec names a measurement (= bucket), fields, tag filters, a half-open time range
``[start, stop)`` with the time zone its naive bounds are read in, an optional window
(``every``) with an aggregate, group-by tags, a top/bottom N, order, limit and fill.

Semantics every renderer and the Parquet fallback agree on:

- tag filters: ``{"region": ["north", "south"]}`` means ``region = north OR region =
  south``; filters on different tags are ANDed. Tags with a catalog vocabulary (region,
  source, sector...) accept only canonical slugs (aliases such as ``"Nordeste"`` are
  resolved); free tags (plant, line...) accept any text, always rendered as an escaped
  literal, never as a pattern.
- windows (``every``) are aligned to the Unix epoch (InfluxQL's ``GROUP BY time()``
  default), shifted by ``window_offset`` -- a derived value, never stored: for a window
  of whole days (``1d``, ``7d``, ``24h``...) it is minus ``timezone``'s UTC offset *at
  start*, so the windows begin at local midnight (``America/Sao_Paulo``: offset ``3h``,
  a ``1d`` window runs 03:00 UTC -> 03:00 UTC = 00:00 -> 00:00 Brasília time); for
  shorter windows it is 0, and for UTC day windows too (the epoch alignment).
  A window's timestamp is its start (local midnight expressed in UTC). The shift is one
  fixed duration: when the zone's UTC offset changes inside the range (daylight saving
  time -- Brazil observed it until February 2019), windows after the change are one hour
  off local midnight; ``window_note`` says so, and the executor passes it on as a
  warning. Whole weeks (``7d``) are shifted four more days so they run Monday 00:00 to
  Monday 00:00 (the epoch was a Thursday): ``99h`` for Brasília, ``4d`` for UTC.
- ``energy``: for fields holding average power over the sample interval (MWmed; unit
  ``MW`` in the catalog), the energy in MWh is ``sum(value) * interval_hours``;
  ``sample_interval`` defaults per measurement (``SAMPLE_INTERVAL``; ONS data is hourly).
- ``percentile`` takes ``p`` in (0, 100]; InfluxQL's nearest-rank definition is the
  reference (SQL dialects render an approximate percentile and say so).
- ``top``/``bottom`` keep the N largest/smallest result values, after aggregation.
- ``limit`` bounds the rows returned; renderers ask for ``limit + 1`` so the executor
  can tell a truncated result (``truncated: true``) from a complete one.
- ``fill`` (windowed aggregates only): ``none`` (default: empty windows give no row),
  ``null``, ``previous``, ``linear`` or a number.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .. import catalog
from ..durations import duration_seconds
from ..exceptions import CatalogError, InvalidQuery

Aggregate = Literal[
    "mean", "max", "min", "sum", "count", "first", "last", "median", "spread", "stddev",
    "percentile", "energy",
]
AGGREGATES: tuple[str, ...] = (
    "mean", "max", "min", "sum", "count", "first", "last", "median", "spread", "stddev",
    "percentile", "energy",
)
Fill = Literal["none", "null", "previous", "linear"] | float

#: the interval one sample covers, per measurement (ONS publishes hourly MWmed)
SAMPLE_INTERVAL: dict[str, str] = {name: "1h" for name in catalog.MEASUREMENTS}
MAX_LIMIT = 1_000_000
#: one number and one unit: the form every dialect speaks (``durations.duration_seconds``
#: reads it, and compound forms such as ``1w2d`` that the dialects do not)
_DURATION_RE = re.compile(r"[1-9][0-9]{0,6}[smhdw]")
NS = 1_000_000_000
_MONDAY_NS = 4 * 86_400 * NS  # 1970-01-05, the first Monday after the epoch
DAY_NS = 86400 * NS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def duration_ns(text: str) -> int:
    """Nanoseconds in a duration ``<n>(s|m|h|d|w)`` (one unit, what every dialect speaks)."""
    if not _DURATION_RE.fullmatch(text):
        raise InvalidQuery(
            f"invalid duration {text!r}: use one number and one unit of s, m, h, d, w "
            "(e.g. 1h, 15m, 1d); months and years have no fixed length"
        )
    return duration_seconds(text) * NS


def _parse_time(value: Any, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            raise InvalidQuery(
                f"invalid time {value!r}: use ISO 8601 (2024-01-31, 2024-01-31T12:00, "
                "2024-01-31T12:00:00Z)"
            ) from None
    else:
        raise InvalidQuery(f"invalid time {value!r}: use an ISO 8601 string")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC)


class QuerySpec(BaseModel):
    """One read query, independent of any dialect (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    measurement: str
    fields: tuple[str, ...]
    where: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    start: datetime
    stop: datetime
    timezone: str = "UTC"
    every: str | None = None
    aggregate: Aggregate | None = None
    p: float | None = Field(default=None, description="percentile, in (0, 100]")
    group_by: tuple[str, ...] = ()
    top: int | None = Field(default=None, ge=1, le=10_000)
    bottom: int | None = Field(default=None, ge=1, le=10_000)
    order: Literal["asc", "desc"] = "asc"
    limit: int = Field(default=10_000, ge=1, le=MAX_LIMIT)
    fill: Fill = "none"
    sample_interval: str | None = None

    # ------------------------------------------------------------------ validation

    @model_validator(mode="before")
    @classmethod
    def _times(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        tzname = data.get("timezone") or "UTC"
        try:
            tz = ZoneInfo(tzname)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidQuery(f"unknown time zone {tzname!r} (use an IANA name such as "
                               f"{catalog.TIMEZONE})") from None
        for key in ("start", "stop"):
            if key not in data:
                raise InvalidQuery(f"a query needs {key!r}: queries are always bounded in time")
            data[key] = _parse_time(data[key], tz)
        if isinstance(data.get("fields"), str):
            data["fields"] = (data["fields"],)
        where = data.get("where") or {}
        if not isinstance(where, dict):
            raise InvalidQuery("'where' must map tag names to a value or a list of values")
        data["where"] = {
            str(k): (v,) if isinstance(v, str) else tuple(v) for k, v in where.items()
        }
        if isinstance(data.get("group_by"), str):
            data["group_by"] = (data["group_by"],)
        return data

    @field_validator("fill", mode="before")
    @classmethod
    def _fill(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("none", "null", "previous", "linear"):
            try:
                return float(value)
            except ValueError:
                raise InvalidQuery(
                    f"invalid fill {value!r}: use none, null, previous, linear or a number"
                ) from None
        return value

    @model_validator(mode="after")
    def _check(self) -> QuerySpec:
        spec = catalog.measurement(self.measurement)  # CatalogError if unknown
        if not self.fields:
            raise InvalidQuery("a query needs at least one field")
        for f in self.fields:
            spec.field(f)  # CatalogError if unknown
        if len(set(self.fields)) != len(self.fields):
            raise InvalidQuery(f"duplicate fields in {list(self.fields)}")
        resolved: dict[str, tuple[str, ...]] = {}
        for tag, values in self.where.items():
            if tag not in spec.tags:
                raise CatalogError(
                    f"measurement {spec.name!r} has no tag {tag!r}; known tags: {', '.join(spec.tags)}"
                )
            if not values:
                raise InvalidQuery(f"tag filter {tag!r} has no values")
            resolved[tag] = tuple(_check_tag_value(tag, v) for v in values)
        object.__setattr__(self, "where", resolved)
        for tag in self.group_by:
            if tag not in spec.tags:
                raise CatalogError(
                    f"cannot group by {tag!r}: measurement {spec.name!r} has tags {', '.join(spec.tags)}"
                )
        if len(set(self.group_by)) != len(self.group_by):
            raise InvalidQuery(f"duplicate group-by tags in {list(self.group_by)}")
        if self.stop <= self.start:
            raise InvalidQuery(f"empty time range: stop {self.stop.isoformat()} is not after "
                               f"start {self.start.isoformat()}")
        if self.every is not None:
            duration_ns(self.every)
            if self.aggregate is None:
                raise InvalidQuery("a window (every) needs an aggregate")
            windows = (self.stop_ns - self.start_ns) // duration_ns(self.every)
            if windows > 10 * MAX_LIMIT:
                raise InvalidQuery(f"{windows} windows of {self.every}: use a longer window")
        if self.aggregate == "percentile":
            if self.p is None or not 0 < self.p <= 100:
                raise InvalidQuery("percentile needs p in (0, 100]")
        elif self.p is not None:
            raise InvalidQuery("p is only meaningful with aggregate 'percentile'")
        if self.aggregate == "energy":
            for f in self.fields:
                if spec.fields[f].unit != "MW":
                    raise InvalidQuery(
                        f"energy integrates average power (MW, MWmed); {f!r} is in "
                        f"{spec.fields[f].unit}: use sum instead"
                    )
        if self.sample_interval is not None:
            duration_ns(self.sample_interval)
        if self.fill != "none" and self.every is None:
            raise InvalidQuery("fill applies to windows: give 'every' too, or leave fill 'none'")
        if self.top is not None and self.bottom is not None:
            raise InvalidQuery("give top or bottom, not both")
        if self.rank is not None and len(self.fields) != 1:
            raise InvalidQuery("top/bottom rank one field: give exactly one")
        if self.group_by and self.aggregate is None and self.rank is None:
            raise InvalidQuery("group_by needs an aggregate (raw points keep their tags anyway)")
        return self

    # ------------------------------------------------------------------ derived

    @property
    def measurement_spec(self) -> catalog.MeasurementSpec:
        return catalog.measurement(self.measurement)

    @property
    def bucket(self) -> str:
        return self.measurement_spec.bucket

    @property
    def start_ns(self) -> int:
        return _to_ns(self.start)

    @property
    def stop_ns(self) -> int:
        return _to_ns(self.stop)

    @property
    def every_ns(self) -> int | None:
        return duration_ns(self.every) if self.every else None

    @property
    def window_offset_ns(self) -> int:
        """How far the window boundaries are shifted from the epoch alignment, in ns.

        ``-utcoffset(start)`` in ``timezone`` when ``every`` is a whole number of days,
        plus four days when it is a whole number of weeks, so weeks run Monday to Monday
        (the epoch was a Thursday); else 0 (see the module docstring). Positive moves
        boundaries later: a window starts at ``k * every + window_offset_ns`` since the epoch.
        """
        every = self.every_ns
        if not every or every % DAY_NS:
            return 0
        offset = self.start.astimezone(ZoneInfo(self.timezone)).utcoffset()
        shift = -_to_ns_delta(offset) if offset else 0
        if every % (7 * DAY_NS) == 0:
            shift += _MONDAY_NS  # weeks start on Monday (the epoch was a Thursday)
        return shift

    @property
    def window_offset(self) -> str | None:
        """``window_offset_ns`` as a signed one-unit duration (``3h``, ``-330m``), or None."""
        ns = self.window_offset_ns
        return format_duration(ns) if ns else None

    def window_start_ns(self, t_ns: int) -> int:
        """The start of the window holding ``t_ns`` (needs ``every``)."""
        every = self.every_ns
        assert every
        off = self.window_offset_ns
        return (t_ns - off) // every * every + off

    @property
    def window_note(self) -> str | None:
        """A warning when local-midnight windows cannot hold across the whole range: the
        zone's UTC offset changes inside it (daylight saving time), None otherwise."""
        every = self.every_ns
        if not every or every % DAY_NS or not _offset_changes(self.timezone, self.start,
                                                              self.stop):
            return None
        z = self.start.astimezone(ZoneInfo(self.timezone)).strftime("%z")
        return (f"{self.every} windows follow the UTC offset of {self.timezone} at the start "
                f"of the range ({z[:3]}:{z[3:]}); it "
                "changes inside the range (daylight saving time), so some windows are off "
                "local midnight by the change (usually one hour)")

    @property
    def interval(self) -> str:
        """The sample interval (for ``energy``): the spec's or the measurement's default."""
        return self.sample_interval or SAMPLE_INTERVAL.get(self.measurement, "1h")

    @property
    def interval_hours(self) -> float:
        return duration_ns(self.interval) / (3600 * NS)

    @property
    def rank(self) -> tuple[Literal["top", "bottom"], int] | None:
        if self.top is not None:
            return ("top", self.top)
        if self.bottom is not None:
            return ("bottom", self.bottom)
        return None

    # ------------------------------------------------------------------ JSON

    def to_json(self, **kw: Any) -> str:
        return self.model_dump_json(exclude_defaults=True, **kw)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(self.to_json())  # type: ignore[no-any-return]

    @classmethod
    def parse(cls, data: dict[str, Any] | str | bytes) -> QuerySpec:
        """A spec from a dict or JSON text; every problem is an ``InvalidQuery``/``CatalogError``."""
        try:
            doc = json.loads(data) if isinstance(data, str | bytes) else data
        except ValueError as exc:
            raise InvalidQuery(f"query spec is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise InvalidQuery("query spec must be a JSON object")
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidQuery(f"invalid query spec: {problems}") from None

    def replace(self, **changes: Any) -> QuerySpec:
        return QuerySpec.parse({**self.to_dict(), **changes})


def format_duration(ns: int) -> str:
    """Signed ns -> ``<n><unit>`` in the largest unit that divides it (``3h``, ``-330m``)."""
    if ns == 0:
        return "0s"
    sign, mag = ("-" if ns < 0 else ""), abs(ns)
    for unit in ("w", "d", "h", "m", "s"):
        size = duration_ns(f"1{unit}")
        if mag % size == 0:
            return f"{sign}{mag // size}{unit}"
    raise InvalidQuery(f"{ns} ns is not a whole number of seconds")


@functools.lru_cache(maxsize=256)
def _offset_changes(tzname: str, start: datetime, stop: datetime) -> bool:
    """Whether ``tzname``'s UTC offset differs anywhere in ``[start, stop)`` from the one at
    ``start`` (sampled daily: every DST period lasts far longer than a day)."""
    tz = ZoneInfo(tzname)
    first = start.astimezone(tz).utcoffset()
    t, step = start, timedelta(days=1)
    while t < stop:
        if t.astimezone(tz).utcoffset() != first:
            return True
        t += step
    return (stop - timedelta(microseconds=1)).astimezone(tz).utcoffset() != first


def _to_ns_delta(delta: timedelta) -> int:
    return (delta // timedelta(microseconds=1)) * 1000


def _to_ns(dt: datetime) -> int:
    return _to_ns_delta(dt - _EPOCH)


def _check_tag_value(tag: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidQuery(f"tag {tag!r}: values are strings, not {value!r}")
    vocab = catalog.TAG_VOCABULARY.get(tag)
    if vocab is None:
        if value == "":
            raise InvalidQuery(f"tag {tag!r}: empty value")
        return value  # a free tag: any text, rendered as an escaped literal
    if value in vocab:
        return value
    resolver = catalog.RESOLVERS.get(tag)
    resolved = resolver(value) if resolver else None
    if resolved is not None and resolved in vocab:
        return resolved
    raise CatalogError(f"unknown {tag} {value!r}; known: {', '.join(sorted(vocab))}")
