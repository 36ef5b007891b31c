"""Hard limits on what the service accepts. Documented in the README; overridable by settings."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Image container formats we decode (Pillow format names). Everything else is refused.
DEFAULT_IMAGE_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP"})


@dataclass(frozen=True, slots=True, kw_only=True)
class InputLimits:
    """Limits applied at every boundary (Python call, CLI, REST, eval rows)."""

    #: Longest accepted text, in Unicode code points. Longer texts raise ``TextTooLongError``.
    max_text_chars: int = 32_768
    #: Largest accepted encoded image, in bytes.
    max_image_bytes: int = 20 * 1024 * 1024
    #: Largest accepted decoded image, in pixels (width x height) per frame: decompression-bomb guard.
    max_image_pixels: int = 40_000_000
    #: Longest accepted side, in pixels (JPEG's own maximum): bounds degenerate strips such as
    #: 1 x 30,000,000 that pass the pixel limit but are useless to every model.
    max_image_side: int = 65_535
    #: Animated images are sampled to at most this many frames, evenly spaced.
    max_image_frames: int = 8
    #: Pillow format names accepted.
    image_formats: frozenset[str] = field(default=DEFAULT_IMAGE_FORMATS)
