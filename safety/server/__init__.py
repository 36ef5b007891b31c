"""The REST service: ``create_app()`` (FastAPI app factory)."""

from safety.server.app import create_app

__all__ = ["create_app"]
