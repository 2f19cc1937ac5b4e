"""HTTP API: FastAPI app (``create_app``), also served on Lambda through Mangum."""

from .app import create_app

__all__ = ["create_app"]
