"""Reading request bodies safely: size-bounded, JSON or multipart, base64 and data-URL images.

The server never fetches a URL given by a client (no SSRF): images arrive as base64, as
``data:`` URLs, or as multipart uploads.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from dataclasses import dataclass

from fastapi import Request
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartState, parse_options_header

from safety.errors import (
    EmptyInputError,
    ImageTooLargeError,
    InvalidBase64Error,
    InvalidRequestError,
    InvalidTextError,
)
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


@dataclass(frozen=True, slots=True)
class FormPart:
    name: str
    filename: str | None
    data: bytes

    def text(self) -> str:
        """The part as UTF-8 text; invalid UTF-8 is an error, never silently replaced."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidTextError(f"form field {self.name!r} is not valid UTF-8 (byte {exc.start})") from None


def parse_multipart(body: bytes, content_type: str, *, max_parts: int = 8) -> dict[str, FormPart]:
    """Parse a ``multipart/form-data`` body held in memory, keeping each part's raw bytes.

    Starlette's form parser falls back to latin-1 for fields that are not UTF-8; moderation must
    see exactly what was sent, so parts are parsed here and decoded strictly by the caller.
    """
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequestError("multipart body without a boundary parameter in its content type")
    parts: list[FormPart] = []
    state: dict = {}

    def on_part_begin() -> None:
        state.update(headers={}, field=b"", value=b"", data=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state.update(field=b"", value=b"")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"] += data[start:end]

    def on_part_end() -> None:
        disposition, params = parse_options_header(state["headers"].get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise InvalidRequestError("multipart part without a form-data name")
        filename = params.get(b"filename")
        parts.append(FormPart(name=params[b"name"].decode("utf-8", "replace"),
                              filename=None if filename is None else filename.decode("utf-8", "replace"),
                              data=bytes(state["data"])))
        if len(parts) > max_parts:
            raise InvalidRequestError(f"too many form parts (limit {max_parts})")

    parser = MultipartParser(boundary, callbacks={
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise InvalidRequestError(f"malformed multipart body: {exc}") from None
    if state and parser.state != MultipartState.END:
        raise InvalidRequestError("malformed multipart body: it ends before its closing boundary")
    if not parts:
        raise EmptyInputError("multipart body has no parts")
    names = [p.name for p in parts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidRequestError(f"form fields given more than once: {duplicates}")
    return {p.name: p for p in parts}
