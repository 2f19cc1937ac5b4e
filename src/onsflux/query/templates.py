"""The three query templates of the platform we replace, as QuerySpecs.

The originals were Flux strings filtering ``_measurement == "power_mw"``, which matches
nothing in the stored schema (the measurement is ``generation_data``; ``power_mw`` is a
field). These filter the measurement *and* the field, through the renderers.

- ``generation_trend``: hourly mean of ``power_mw`` by region;
- ``consumption_peak``: the maximum ``demand_mw`` by region (and when it happened);
- ``transmission_losses``: the sum of ``losses_mwh`` by line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..exceptions import InvalidQuery
from .spec import QuerySpec

TimeLike = datetime | str


def generation_trend(start: TimeLike, stop: TimeLike, **extra: Any) -> QuerySpec:
    return QuerySpec.parse({"measurement": "generation_data", "fields": ["power_mw"],
                            "start": start, "stop": stop, "every": "1h", "aggregate": "mean",
                            "group_by": ["region"], **extra})


def consumption_peak(start: TimeLike, stop: TimeLike, **extra: Any) -> QuerySpec:
    return QuerySpec.parse({"measurement": "consumption_data", "fields": ["demand_mw"],
                            "start": start, "stop": stop, "aggregate": "max",
                            "group_by": ["region"], **extra})


def transmission_losses(start: TimeLike, stop: TimeLike, **extra: Any) -> QuerySpec:
    return QuerySpec.parse({"measurement": "transmission_data", "fields": ["losses_mwh"],
                            "start": start, "stop": stop, "aggregate": "sum",
                            "group_by": ["line"], **extra})


TEMPLATES: dict[str, Callable[..., QuerySpec]] = {
    "generation_trend": generation_trend,
    "consumption_peak": consumption_peak,
    "transmission_losses": transmission_losses,
}


def template(name: str, start: TimeLike, stop: TimeLike, **extra: Any) -> QuerySpec:
    """The template ``name`` over ``[start, stop)``."""
    try:
        build = TEMPLATES[name]
    except KeyError:
        raise InvalidQuery(f"unknown template {name!r}; known: {', '.join(TEMPLATES)}") from None
    return build(start, stop, **extra)
