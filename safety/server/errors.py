"""Errors over HTTP: one table from exception class to status, one JSON body shape.

The body follows the OpenAI error shape so both APIs (and the ``openai`` client) read it::

    {"error": {"message": "...", "type": "invalid_request_error", "code": "corrupt_image", "param": null}}

Bad input always gets a 4xx; a 5xx means a bug or a broken installation, never the client's input.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from safety import errors as e

log = logging.getLogger("safety.server")

#: Most specific class first: the first ``isinstance`` match wins.
STATUS_BY_ERROR: tuple[tuple[type[e.SafetyError], int], ...] = (
    (e.TextTooLongError, 413),
    (e.ImageTooLargeError, 413),
    (e.UnsupportedImageFormatError, 415),
    (e.CorruptImageError, 422),
    (e.UnknownPolicyError, 422),
    (e.InvalidPolicyError, 422),
    (e.InputError, 400),
    (e.OverloadedError, 503),
    (e.UnknownDetectorError, 500),
    (e.SafetyError, 500),
)


def status_for(exc: e.SafetyError) -> int:
    return next(status for cls, status in STATUS_BY_ERROR if isinstance(exc, cls))


def error_body(code: str, message: str, status: int, param: str | None = None) -> dict:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


class HTTPError(e.InvalidRequestError):
    """A request-level problem detected by the server itself, with its own status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _count(request: Request, code: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(code).inc()


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPError)
    async def _http_error(request: Request, exc: HTTPError) -> JSONResponse:
        _count(request, exc.code)
        return JSONResponse(error_body(exc.code, exc.message, exc.status), status_code=exc.status)

    @app.exception_handler(e.SafetyError)
    async def _safety_error(request: Request, exc: e.SafetyError) -> JSONResponse:
        status = status_for(exc)
        _count(request, exc.code)
        headers = None
        if isinstance(exc, e.OverloadedError):
            headers = {"Retry-After": str(exc.retry_after_s)}
        elif status >= 500:
            log.error("server-side error: %s", type(exc).__name__)
        return JSONResponse(error_body(exc.code, exc.message, status), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        _count(request, "invalid_request")
        problems = exc.errors()
        first = problems[0] if problems else {}
        loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()) if p != 'body') or 'body'}: {err.get('msg')}" for err in problems
        )
        return JSONResponse(error_body("invalid_request", message or "invalid request", 422, loc or None), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _count(request, "internal_error")
        # A bug, not the client's fault. Logged by type only: the message could quote content.
        log.error("unhandled %s while serving a request", type(exc).__name__)
        return JSONResponse(error_body("internal_error", "internal error; the request was not moderated", 500),
                            status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _starlette(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        _count(request, code)
        return JSONResponse(error_body(code, str(exc.detail), exc.status_code), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
