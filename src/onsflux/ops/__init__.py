"""Operations: the local Prometheus, ``onsflux doctor``, ``onsflux cost`` and the /ops page's
pipeline-health section. Metric names live in :mod:`onsflux.metrics`."""
