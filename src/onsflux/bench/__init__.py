"""Benchmarks run by ``onsflux bench NAME [--json]``: each module exposes ``run(...) -> dict``.

They live in the package (not in a ``bench/`` folder of the checkout) so ``onsflux bench``
imports only installed code, never whatever ``bench`` happens to be in the current
directory. ``common`` holds what they share (not a benchmark); ``seed`` is the original
design's performance suite (``onsflux bench seed``).
"""

#: modules here that are not benchmarks
HELPERS = frozenset({"common"})
