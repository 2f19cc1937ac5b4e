"""Benchmarks run by ``onsflux bench NAME [--json]``: each module exposes ``run(...) -> dict``."""
