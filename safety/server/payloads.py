"""Reading request bodies safely: size-bounded, JSON or multipart, base64 and data-URL images.

The server never fetches a URL given by a client (no SSRF): images arrive as base64, as
``data:`` URLs, or as multipart uploads.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from fastapi import Request
from starlette.datastructures import UploadFile

from safety.errors import EmptyInputError, ImageTooLargeError, InvalidBase64Error, InvalidTextError
from safety.server.errors import HTTPError

_DATA_URL = re.compile(r"^data:(?P<media>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,", re.ASCII)
_WHITESPACE = re.compile(r"\s+")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, "request_too_large", f"request body of {int(declared):,} bytes exceeds the limit of {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, "request_too_large", f"request body exceeds the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> object:
    if not body.strip():
        raise EmptyInputError("empty request body: send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidTextError(f"request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HTTPError(400, "malformed_json", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_json(request: Request) -> None:
    if media_type(request) != "application/json":
        raise HTTPError(415, "unsupported_media_type",
                        f"content type {media_type(request) or '(none)'!r} is not supported; send application/json")


def decode_image_payload(value: str, *, max_bytes: int, what: str = "image") -> bytes:
    """Bytes of a base64 string or a ``data:...;base64,`` URL. Other URLs are refused, never fetched."""
    value = value.strip()
    if not value:
        raise EmptyInputError(f"{what} is empty")
    if value.startswith("data:"):
        match = _DATA_URL.match(value)
        if match is None or not match.group("b64"):
            raise InvalidBase64Error(f"{what}: only base64 data URLs are accepted (data:image/...;base64,...)")
        value = value[match.end():]
    elif re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value):
        raise HTTPError(400, "url_not_allowed",
                        f"{what}: the server never fetches URLs; send the image as base64, a data URL or an upload")
    value = _WHITESPACE.sub("", value)
    if len(value) // 4 * 3 > max_bytes + 3:
        raise ImageTooLargeError(f"{what} is over the limit of {max_bytes:,} bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidBase64Error(f"{what} is not valid base64") from None
    if not data:
        raise EmptyInputError(f"{what} is empty")
    return data


async def read_upload(upload: UploadFile, *, max_bytes: int) -> bytes:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"uploaded image is over the limit of {max_bytes:,} bytes")
    return data
