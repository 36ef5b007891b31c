"""Native REST API: ``POST /v1/moderate`` (JSON or multipart), ``GET /healthz``, ``GET /readyz``,
``GET /metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from safety.errors import EmptyInputError, ImageTooLargeError, InvalidRequestError
from safety.inputs import prepare
from safety.schema import ModerationResult
from safety.server.deps import MetricsDep, ModeratorDep, RunnerDep, SettingsDep
from safety.server.metrics import CONTENT_TYPE
from safety.server.errors import HTTPError
from safety.server.payloads import decode_image_payload, media_type, parse_json, parse_multipart, read_body

router = APIRouter()


class ModerateRequest(BaseModel):
    """JSON body of ``POST /v1/moderate``. At least one of ``text`` and ``image``."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="The text to moderate (UTF-8).")
    image: str | None = Field(None, description="The image, base64-encoded or as a data URL (data:image/png;base64,...).")
    policy: str | None = Field(None, description="Policy name (default: the server's default policy).")


_REQUEST_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ModerateRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "image": {"type": "string", "format": "binary"},
                        "policy": {"type": "string"},
                    },
                }
            },
        },
    }
}


def validation_error(exc: ValidationError) -> InvalidRequestError:
    return InvalidRequestError("; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
    ))


async def _from_json(request: Request, settings) -> tuple[str | None, bytes | None, str | None]:
    data = parse_json(await read_body(request, settings.max_request_bytes))
    try:
        body = ModerateRequest.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None
    image = None if body.image is None else decode_image_payload(body.image, max_bytes=settings.max_image_bytes)
    return body.text, image, body.policy


async def _from_multipart(request: Request, settings) -> tuple[str | None, bytes | None, str | None]:
    body = await read_body(request, settings.max_request_bytes)
    parts = parse_multipart(body, request.headers["content-type"])
    unknown = set(parts) - {"text", "image", "policy"}
    if unknown:
        raise InvalidRequestError(f"unknown form fields {sorted(unknown)}; allowed: text, image, policy")
    text, image, policy = parts.get("text"), parts.get("image"), parts.get("policy")
    if (text and text.filename is not None) or (policy and policy.filename is not None):
        raise InvalidRequestError("'text' and 'policy' must be plain form fields, not files")
    if image is not None and image.filename is None:
        raise InvalidRequestError("'image' must be a file upload (a part with a filename)")
    if image is not None and not image.data:
        raise EmptyInputError("the uploaded image is empty")
    if image is not None and len(image.data) > settings.max_image_bytes:
        raise ImageTooLargeError(f"uploaded image is over the limit of {settings.max_image_bytes:,} bytes")
    return (None if text is None else text.text(), None if image is None else image.data,
            None if policy is None else policy.text())


@router.post(
    "/v1/moderate",
    response_model=ModerationResult,
    summary="Moderate a text and/or an image",
    openapi_extra=_REQUEST_BODY_DOC,
    responses={400: {}, 413: {}, 415: {}, 422: {}},
)
async def moderate(request: Request, moderator: ModeratorDep, settings: SettingsDep, run: RunnerDep) -> Response:
    kind = media_type(request)
    if kind == "application/json":
        text, image, policy = await _from_json(request, settings)
    elif kind == "multipart/form-data":
        text, image, policy = await _from_multipart(request, settings)
    else:
        raise HTTPError(415, "unsupported_media_type",
                        f"content type {kind or '(none)'!r} is not supported; send application/json or multipart/form-data")
    if image is None:  # text checks are quick: no thread hop
        item = prepare(text, None, limits=moderator.limits)
    else:  # decoding is not: off the event loop
        item = await run_in_threadpool(prepare, text, image, limits=moderator.limits)
    (result,) = await run([item], policy)
    # Serialised once by pydantic-core; returning the model would have FastAPI validate it again
    # against response_model (which stays, for the OpenAPI schema) and encode it a second time.
    return Response(result.model_dump_json(), media_type="application/json")


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the models are loaded")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    body = {"bundle": state.moderator.bundle.id, "detectors": dict(state.load_errors)}
    if not state.ready.is_set():
        return JSONResponse({"status": "loading", **body}, status_code=503)
    if any(state.load_errors.values()):
        return JSONResponse({"status": "degraded", **body}, status_code=503)
    return JSONResponse({"status": "ready", **body, "model_bundle": state.moderator.bundle_ref.model_dump()})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, collected: MetricsDep) -> Response:
    batcher = getattr(request.app.state, "batcher", None)
    body = collected.render(queue_depth=(lambda: batcher.depth) if batcher is not None else None)
    return Response(body, media_type=CONTENT_TYPE)
