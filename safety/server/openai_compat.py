"""``POST /v1/moderations``: the OpenAI moderation API's request and response shape.

A view of :class:`~safety.schema.ModerationResult`, through one explicit table from our taxonomy
onto OpenAI's category names. Our categories with no OpenAI counterpart are added as extra keys
under their own names. OpenAI categories we do not assess are present (the client expects them)
as ``false`` / ``0.0`` with an empty ``category_applied_input_types`` list: empty means "not
assessed", never "assessed and clean".

Inputs: a string, a list of strings (one result each), or a list of content parts
(``{"type": "text", "text": ...}``, ``{"type": "image_url", "image_url": {"url": "data:..."}}``)
moderated together as one item. Image URLs must be ``data:`` URLs: the server never fetches URLs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from safety.errors import EmptyInputError, InvalidRequestError
from safety.inputs import prepare_item
from safety.schema import ModerationResult
from safety.server.deps import ModeratorDep, RunnerDep, SettingsDep
from safety.server.payloads import decode_image_payload, parse_json, read_body, require_json
from safety.server.routes import validation_error
from safety.taxonomy import Category, Channel, Modality

#: Every category of OpenAI's omni-moderation response, in its order.
OPENAI_CATEGORIES: tuple[str, ...] = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)

#: Our category -> OpenAI category. Categories not in this table keep their own name as an extra key.
OPENAI_NAME: dict[Category, str] = {
    Category.IDENTITY_ATTACK: "hate",
    Category.INSULT: "harassment",
    Category.THREAT: "harassment/threatening",
    Category.SEXUAL: "sexual",
    Category.WEAPONS: "violence",
}

_INPUT_TYPE = {Channel.TEXT: Modality.TEXT.value, Channel.IMAGE: Modality.IMAGE.value}


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="allow")
    url: str


class ImagePart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["image_url"]
    image_url: ImageURL


Part = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ModerationsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str | list[str] | list[Part]
    model: str | None = Field(None, description="Accepted for compatibility; the server's bundle answers.")
    policy: str | None = Field(None, description="Extension: policy name (default: the server's default).")


class OpenAIResult(BaseModel):
    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    category_applied_input_types: dict[str, list[Literal["text", "image"]]]


class ModerationsResponse(BaseModel):
    id: str
    model: str
    results: list[OpenAIResult]


def to_openai(result: ModerationResult) -> OpenAIResult:
    categories = {name: False for name in OPENAI_CATEGORIES}
    scores = {name: 0.0 for name in OPENAI_CATEGORIES}
    applied: dict[str, list] = {name: [] for name in OPENAI_CATEGORIES}
    for category, outcome in result.categories.items():
        name = OPENAI_NAME.get(category, category.value)
        if outcome.probability is None:
            categories.setdefault(name, False)
            scores.setdefault(name, 0.0)
            applied.setdefault(name, [])
            continue
        categories[name] = categories.get(name, False) or outcome.flagged
        scores[name] = max(scores.get(name, 0.0), outcome.probability)
        types = applied.setdefault(name, [])
        types.extend(t for s in outcome.sources if (t := _INPUT_TYPE.get(s)) and t not in types)
    return OpenAIResult(flagged=result.flagged, categories=categories, category_scores=scores,
                        category_applied_input_types=applied)


def _items(body: ModerationsRequest, *, max_items: int, max_image_bytes: int) -> list[tuple[str | None, bytes | None]]:
    if isinstance(body.input, str):
        return [(body.input, None)]
    if not body.input:
        raise EmptyInputError("input is an empty list")
    if all(isinstance(x, str) for x in body.input):
        if len(body.input) > max_items:
            raise InvalidRequestError(f"input has {len(body.input)} strings; the limit is {max_items}")
        return [(text, None) for text in body.input]
    texts = [p.text for p in body.input if isinstance(p, TextPart)]
    images = [p for p in body.input if isinstance(p, ImagePart)]
    if len(images) > 1:
        raise InvalidRequestError("at most one image_url part per input")
    image = decode_image_payload(images[0].image_url.url, max_bytes=max_image_bytes, what="image_url") if images else None
    return [("\n".join(texts) if texts else None, image)]


router = APIRouter()


@router.post(
    "/v1/moderations",
    response_model=ModerationsResponse,
    summary="OpenAI-compatible moderation",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": ModerationsRequest.model_json_schema()}}}},
    responses={400: {}, 413: {}, 415: {}, 422: {}},
)
async def moderations(request: Request, moderator: ModeratorDep, settings: SettingsDep, run: RunnerDep) -> ModerationsResponse:
    require_json(request)
    data = parse_json(await read_body(request, settings.max_request_bytes))
    try:
        body = ModerationsRequest.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None
    raw = _items(body, max_items=settings.max_batch_items, max_image_bytes=settings.max_image_bytes)

    def prepared() -> list:
        return [prepare_item(i, {"text": text, "image": image}, limits=moderator.limits)
                for i, (text, image) in enumerate(raw)]

    results = await run(await run_in_threadpool(prepared), body.policy)
    return ModerationsResponse(
        id=results[0].id if len(results) == 1 else f"modr-batch-{results[0].id.removeprefix('modr-')}",
        model=moderator.bundle.id,
        results=[to_openai(r) for r in results],
    )
