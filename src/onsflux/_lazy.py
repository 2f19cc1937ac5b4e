"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package that holds both pure modules and I/O modules must not load the I/O ones
when only a pure one is imported (``import onsflux.query.spec`` must not pull in the
HTTP client). Older code still writes ``from onsflux.influx import InfluxClient``;
``lazy_exports`` keeps that working by importing the module on first attribute access
instead of at package import. New code imports the defining module directly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` resolving ``names`` (attribute -> submodule) on first use."""

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
