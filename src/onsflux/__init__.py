"""onsflux: ONS electricity time series on InfluxDB."""
__version__ = "0.1.0"
