"""Validation at the boundary: turn what a caller gave into checked, decoded inputs (or a typed error).

Images go through :func:`safety.images.decode_image` (the one safe decoder); texts through
:func:`validate_text`. Both run before any detector sees anything, for every entry point.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from safety.errors import EmptyInputError, InputError, InvalidTextError, TextTooLongError
from safety.images import DecodedImage, decode_image
from safety.limits import InputLimits

ITEM_KEYS = frozenset({"text", "image"})


@dataclass(frozen=True, slots=True)
class ModerationInput:
    """One validated item: text and/or a decoded image (at least one is present)."""

    text: str | None
    image: DecodedImage | None

    @property
    def text_sha256(self) -> str | None:
        return None if self.text is None else hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def validate_text(text: object, *, limits: InputLimits) -> str:
    """Return ``text`` as a checked ``str``: bytes must be UTF-8; no lone surrogates; within limits."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidTextError(f"text is not valid UTF-8 (byte {exc.start}: {exc.reason})") from None
    if not isinstance(text, str):
        raise InvalidTextError(f"text must be a str or UTF-8 bytes, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidTextError(f"text contains an unpaired surrogate at position {exc.start}") from None
    if len(text) > limits.max_text_chars:
        raise TextTooLongError(
            f"text has {len(text):,} characters; the limit is {limits.max_text_chars:,}"
            " (split long documents, or raise SAFETY_MAX_TEXT_CHARS)"
        )
    return text


def prepare(text: object = None, image: object = None, *, limits: InputLimits) -> ModerationInput:
    """Validate one item. A blank text beside an image counts as no text; alone it is an error."""
    checked_text = None if text is None else validate_text(text, limits=limits)
    if checked_text is not None and not checked_text.strip():
        checked_text = None
        if image is None:
            raise EmptyInputError("text is empty")
    if checked_text is None and image is None:
        raise EmptyInputError("nothing to moderate: give a text, an image, or both")
    decoded = None if image is None else decode_image(image, limits=limits)
    return ModerationInput(text=checked_text, image=decoded)


def prepare_item(index: int, item: object, *, limits: InputLimits) -> ModerationInput:
    """Validate one ``{"text": ..., "image": ...}`` mapping of a batch; errors name the item."""
    if not isinstance(item, Mapping):
        raise InputError(f"item {index}: expected a mapping with 'text' and/or 'image', got {type(item).__name__}")
    unknown = set(item) - ITEM_KEYS
    if unknown:
        raise InputError(f"item {index}: unknown keys {sorted(map(str, unknown))}; allowed: text, image")
    try:
        return prepare(item.get("text"), item.get("image"), limits=limits)
    except InputError as exc:
        raise type(exc)(f"item {index}: {exc.message}") from exc
