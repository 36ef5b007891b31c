"""Native REST API: ``POST /v1/moderate`` (JSON or multipart), ``GET /healthz``, ``GET /readyz``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from safety.errors import InvalidRequestError
from safety.inputs import prepare
from safety.schema import ModerationResult
from safety.server.deps import ModeratorDep, SettingsDep
from safety.server.errors import HTTPError
from safety.server.payloads import decode_image_payload, media_type, parse_json, read_body, read_upload

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
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_request_bytes:
        raise HTTPError(413, "request_too_large", f"request body exceeds the limit of {settings.max_request_bytes:,} bytes")
    try:
        form = await request.form(max_files=1, max_fields=4, max_part_size=settings.max_text_chars * 4 + 1024)
    except Exception as exc:  # noqa: BLE001 - python-multipart/starlette parse errors vary
        raise InvalidRequestError(f"malformed multipart body: {exc}") from None
    unknown = set(form.keys()) - {"text", "image", "policy"}
    if unknown:
        raise InvalidRequestError(f"unknown form fields {sorted(unknown)}; allowed: text, image, policy")
    text, image, policy = form.get("text"), form.get("image"), form.get("policy")
    if isinstance(text, UploadFile) or isinstance(policy, UploadFile):
        raise InvalidRequestError("'text' and 'policy' must be plain form fields, not files")
    if image is not None and not isinstance(image, UploadFile):
        raise InvalidRequestError("'image' must be a file upload")
    data = None if image is None else await read_upload(image, max_bytes=settings.max_image_bytes)
    return text, data, policy


@router.post(
    "/v1/moderate",
    response_model=ModerationResult,
    summary="Moderate a text and/or an image",
    openapi_extra=_REQUEST_BODY_DOC,
    responses={400: {}, 413: {}, 415: {}, 422: {}},
)
async def moderate(request: Request, moderator: ModeratorDep, settings: SettingsDep) -> ModerationResult:
    kind = media_type(request)
    if kind == "application/json":
        text, image, policy = await _from_json(request, settings)
    elif kind == "multipart/form-data":
        text, image, policy = await _from_multipart(request, settings)
    else:
        raise HTTPError(415, "unsupported_media_type",
                        f"content type {kind or '(none)'!r} is not supported; send application/json or multipart/form-data")
    item = await run_in_threadpool(prepare, text, image, limits=moderator.limits)
    (result,) = await run_in_threadpool(moderator.moderate_inputs, [item], policy=policy)
    return result


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
