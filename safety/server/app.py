"""The FastAPI app factory. ``create_app()`` builds a fresh app; nothing is global."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safety import __version__
from safety.pipeline import Moderator
from safety.server import errors, openai_compat, routes
from safety.server.batching import MicroBatcher
from safety.server.metrics import Metrics
from safety.settings import Settings

log = logging.getLogger("safety.server")


def create_app(settings: Settings | None = None, *, moderator: Moderator | None = None) -> FastAPI:
    """Build the app. ``moderator`` overrides the one built from ``settings`` (tests, embedding)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.torch_threads:
            import torch

            torch.set_num_threads(settings.torch_threads)
        app.state.moderator = moderator or Moderator.from_settings(settings)
        app.state.ready = threading.Event()
        app.state.load_errors = {}

        def load() -> None:
            app.state.load_errors = app.state.moderator.warm_up()
            app.state.moderator.bundle_ref  # noqa: B018 - compute the bundle digest once, now
            app.state.ready.set()
            log.info("models loaded; ready")

        if settings.preload:
            threading.Thread(target=load, name="safety-preload", daemon=True).start()
        else:
            app.state.ready.set()
        app.state.batcher = None
        if settings.batch_max_size > 1:
            app.state.batcher = MicroBatcher(app.state.moderator, max_size=settings.batch_max_size,
                                             max_wait_ms=settings.batch_wait_ms, max_queue=settings.max_queue,
                                             on_batch=app.state.metrics.observe_batch)
            app.state.batcher.start()
        yield
        if app.state.batcher is not None:
            await app.state.batcher.stop()

    app = FastAPI(
        title="safety",
        version=__version__,
        summary="Self-hosted multimodal harmful-content moderation.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()

    app.add_middleware(RequestTimer, metrics=app.state.metrics)
    errors.install(app)
    app.include_router(routes.router)
    app.include_router(openai_compat.router)
    return app


class RequestTimer:
    """Observes every HTTP request's latency by endpoint, method and status, as a plain ASGI
    middleware: Starlette's ``@app.middleware("http")`` wraps every request and response in extra
    tasks and streams, which cost more than the text model itself on a small CPU."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it starts a response

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request_seconds.labels(endpoint, scope["method"], str(status)).observe(
                time.perf_counter() - started)
