"""The one safe image decoder: every image (Python API, REST, CLI, eval) goes through here.

:func:`decode_image` turns encoded bytes, a file path, a ``PIL.Image.Image`` or a ``numpy.ndarray``
into a :class:`DecodedImage` of fully loaded RGB frames, or raises a typed
:class:`~safety.errors.ImageError`. Nothing from Pillow, numpy or the OS escapes. The rules:

* **Sources.** ``bytes``/``bytearray``/``memoryview`` are an encoded image; ``str``/``os.PathLike``
  a path to one (a missing path, a directory or anything but a regular readable file is
  :class:`~safety.errors.ImageNotFoundError`). Any other type is :class:`~safety.errors.ImageError`.
* **Bytes.** Zero bytes is :class:`~safety.errors.EmptyInputError`; more than
  ``limits.max_image_bytes`` is :class:`~safety.errors.ImageTooLargeError` (a file's size is checked
  with ``stat`` before it is read, and the read itself is capped).
* **Formats.** Only the Pillow plugins named in ``limits.image_formats`` ever parse the bytes. Bytes
  whose magic number belongs to another format Pillow knows (TIFF, ICO, PSD...) are
  :class:`~safety.errors.UnsupportedImageFormatError`; anything else that does not open is
  :class:`~safety.errors.CorruptImageError`.
* **Size.** ``width * height`` from the header is checked against ``limits.max_image_pixels`` and
  each side against ``limits.max_image_side`` before any pixel is decoded; Pillow's own
  decompression-bomb error also becomes :class:`~safety.errors.ImageTooLargeError`. A
  zero width or height is :class:`~safety.errors.CorruptImageError`.
* **Pixels.** Every kept frame is loaded inside the guard, so truncated or corrupt pixel data is
  :class:`~safety.errors.CorruptImageError` (``ImageFile.LOAD_TRUNCATED_IMAGES`` stays off).
* **Animations.** ``n_frames`` is the source's frame count; at most ``limits.max_image_frames``
  frames are kept, evenly spaced, always including frame 0. Reaching frame *k* decodes every frame
  before it, so sampling is confined to the leading frames whose sequential decode fits in
  :data:`MAX_DECODED_FRAMES` frames and ``max_image_pixels * max_image_frames`` pixels.
* **Orientation.** The EXIF (or XMP) orientation of the source is applied to every frame, as
  ``PIL.ImageOps.exif_transpose`` would; unreadable metadata leaves the frames as they are.
* **Colour.** Frames become RGB: anything with alpha or a transparency key (``RGBA``, ``LA``, ``PA``,
  ``P``/``L``/``RGB`` with ``transparency``) is composited over white; 16-bit greyscale is scaled
  from its full 0..65535 range, ``I``/``F`` from the image's actual range (values already within
  0..255 are kept as they are); every other mode (``L``, ``1``, ``CMYK``, ``P``...) is converted.
* **Arrays.** ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``; ``uint8`` as is, ``bool``
  as 0/255, other integers within 0..255, floats finite and within [0, 1] (scaled by 255).
* **PIL images** are treated as the single frame they currently show; they are copied, never
  modified. ``format`` is ``"RAW"`` for PIL and numpy sources.
* **Fallback.** Any other exception raised while decoding becomes
  :class:`~safety.errors.CorruptImageError`; :class:`~safety.errors.SafetyError`\\ s pass unchanged.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from safety.errors import (
    CorruptImageError,
    EmptyInputError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    SafetyError,
    UnsupportedImageFormatError,
)
from safety.limits import InputLimits

__all__ = ["MAX_DECODED_FRAMES", "DecodedImage", "decode_image"]

#: Most frames of an animation decoded to reach the sampled ones (see the module docstring).
MAX_DECODED_FRAMES: int = 1_000

#: ``DecodedImage.format`` for sources that were never encoded (PIL images, numpy arrays).
RAW_FORMAT = "RAW"

_ACCEPTED_SOURCES = (
    "bytes, bytearray, memoryview, str, os.PathLike, PIL.Image.Image or numpy.ndarray"
)

#: EXIF orientation value -> the transpose that undoes it (the table of ``ImageOps.exif_transpose``).
_ORIENTATION_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG = 0x0112
_WHITE = (255, 255, 255, 255)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """A decoded image: fully loaded RGB frames plus what was learned about the source."""

    #: RGB, EXIF orientation applied, at most ``limits.max_image_frames``, fully loaded.
    frames: tuple[Image.Image, ...]
    #: Pillow format name (``"PNG"``, ``"JPEG"``...); ``"RAW"`` for PIL and numpy sources.
    format: str
    #: Size of the (transposed) first frame.
    width: int
    height: int
    #: Frames in the source, before sampling.
    n_frames: int
    #: Hex sha256 of the encoded bytes; for PIL/numpy sources, of the size and RGB pixel bytes.
    sha256: str

    @property
    def first(self) -> Image.Image:
        """The first frame (frame 0 of the source)."""
        return self.frames[0]


def decode_image(source: object, *, limits: InputLimits = InputLimits()) -> DecodedImage:
    """Decode *source* into RGB frames, or raise an :class:`~safety.errors.ImageError` subclass.

    *source* is encoded image bytes (``bytes``, ``bytearray``, ``memoryview``), a path (``str``,
    ``os.PathLike``), a ``PIL.Image.Image`` or a ``numpy.ndarray``. See the module docstring for
    every rule applied.
    """
    try:
        # Our own header check (limits.max_image_pixels) runs before Pillow's; Pillow's bomb
        # error is still translated. Warnings filters are process-global and not thread-safe, so
        # they are left alone.
        return _decode(source, limits)
    except SafetyError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image rejected as a decompression bomb: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any decoder failure means the image is unusable
        raise CorruptImageError(f"could not decode image ({_describe(exc)})") from exc


# --- Dispatch on the source type. ----------------------------------------------------------------


def _decode(source: object, limits: InputLimits) -> DecodedImage:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode_bytes(source, limits)
    if isinstance(source, (str, os.PathLike)):
        return _decode_bytes(_read_file(source, limits), limits)
    if isinstance(source, Image.Image):
        return _decode_pil(source, limits)
    if isinstance(source, np.ndarray):
        return _decode_array(source, limits)
    raise ImageError(
        f"unsupported image source of type {type(source).__name__}; expected {_ACCEPTED_SOURCES}"
    )


def _read_file(path: str | os.PathLike[str] | os.PathLike[bytes], limits: InputLimits) -> bytes:
    shown = _shorten(repr(os.fspath(path)))
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:
        raise ImageNotFoundError(f"image path {shown} cannot be accessed ({_describe(exc)})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageNotFoundError(f"image path {shown} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageNotFoundError(f"image path {shown} is not a regular file")
    _check_byte_size(info.st_size, limits)
    try:
        with open(path, "rb") as handle:
            # One byte over the limit is enough to notice a file that grew after the stat.
            return handle.read(limits.max_image_bytes + 1)
    except OSError as exc:
        raise ImageNotFoundError(f"image path {shown} cannot be read ({_describe(exc)})") from exc


def _decode_bytes(data: bytes | bytearray | memoryview, limits: InputLimits) -> DecodedImage:
    size = data.nbytes if isinstance(data, memoryview) else len(data)
    if size == 0:
        raise EmptyInputError("image is empty (zero bytes)")
    _check_byte_size(size, limits)
    encoded = bytes(data)
    with _open_encoded(encoded, limits) as image:
        fmt = image.format or "UNKNOWN"
        _check_dimensions(image.size, limits)
        n_frames = getattr(image, "n_frames", 1)
        frames = _load_frames(image, _sample_indices(n_frames, image.size, limits), limits)
    return _result(frames, fmt, n_frames, hashlib.sha256(encoded).hexdigest())


def _decode_pil(image: Image.Image, limits: InputLimits) -> DecodedImage:
    _check_dimensions(image.size, limits)
    # _to_rgb always returns a new image: the caller's is never converted, transposed or seeked.
    frame = _apply_orientation(_to_rgb(image), _read_orientation(image))
    return _result([frame], RAW_FORMAT, 1, _pixel_digest(frame))


def _decode_array(array: np.ndarray, limits: InputLimits) -> DecodedImage:
    pixels = _validate_array(array)
    _check_dimensions((pixels.shape[1], pixels.shape[0]), limits)
    frame = _to_rgb(Image.fromarray(np.ascontiguousarray(_array_to_uint8(pixels))))
    return _result([frame], RAW_FORMAT, 1, _pixel_digest(frame))


def _result(
    frames: Sequence[Image.Image], fmt: str, n_frames: int, sha256: str
) -> DecodedImage:
    width, height = frames[0].size
    return DecodedImage(
        frames=tuple(frames),
        format=fmt,
        width=width,
        height=height,
        n_frames=n_frames,
        sha256=sha256,
    )


# --- Limits. -----------------------------------------------------------------------------------


def _check_byte_size(size: int, limits: InputLimits) -> None:
    if size > limits.max_image_bytes:
        raise ImageTooLargeError(
            f"image is {size} bytes, over the limit of {limits.max_image_bytes} bytes"
        )


def _check_dimensions(size: tuple[int, int], limits: InputLimits) -> None:
    """Reject a frame by its declared size, before any of its pixels is decoded."""
    width, height = size
    if width <= 0 or height <= 0:
        raise CorruptImageError(f"image has an empty size ({width}x{height})")
    if width * height > limits.max_image_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels, over the limit of "
            f"{limits.max_image_pixels} pixels"
        )
    if max(width, height) > limits.max_image_side:
        raise ImageTooLargeError(
            f"image is {width}x{height}, a side is over the limit of {limits.max_image_side} pixels"
        )


# --- Encoded images. ---------------------------------------------------------------------------


def _open_encoded(data: bytes, limits: InputLimits) -> Image.Image:
    """Open *data* with the allowed Pillow plugins only (lazily: reads the header, no pixels)."""
    Image.init()  # registers every plugin, so unknown names can be filtered out below
    allowed = sorted(name.upper() for name in limits.image_formats if name.upper() in Image.OPEN)
    try:
        return Image.open(io.BytesIO(data), formats=allowed)
    except UnidentifiedImageError as exc:
        detected = _sniff_format(data[:16], set(allowed))
        if detected is not None:
            raise UnsupportedImageFormatError(
                f"image format {detected} is not accepted; accepted formats: "
                f"{', '.join(allowed) or 'none'}"
            ) from exc
        raise CorruptImageError(
            f"data is not a readable image in any accepted format ({', '.join(allowed)})"
        ) from exc


def _sniff_format(prefix: bytes, allowed: set[str]) -> str | None:
    """The first non-allowed format whose magic number matches *prefix*, without parsing it.

    Only plugins with a magic-number check are consulted: formats without one (TGA, ...) would
    claim arbitrary junk, which is better reported as corrupt.
    """
    for name in Image.ID:
        if name in allowed:
            continue
        accept = Image.OPEN[name][1]
        try:
            if accept is not None and accept(prefix):
                return name
        except Exception:  # noqa: BLE001 - a sniffer that fails on junk simply does not match
            continue
    return None


def _sample_indices(n_frames: int, canvas: tuple[int, int], limits: InputLimits) -> list[int]:
    """Up to ``max_image_frames`` evenly spaced frame indices, frame 0 first.

    Only the leading frames reachable within the decode budget are candidates (reaching a frame
    decodes every frame before it, each the size of the canvas).
    """
    wanted = max(1, limits.max_image_frames)
    budget_pixels = limits.max_image_pixels * wanted
    reachable = max(1, min(n_frames, MAX_DECODED_FRAMES, budget_pixels // (canvas[0] * canvas[1])))
    count = min(reachable, wanted)
    if count == 1:
        return [0]
    return [round(i * (reachable - 1) / (count - 1)) for i in range(count)]


def _load_frames(
    image: Image.Image, indices: Sequence[int], limits: InputLimits
) -> list[Image.Image]:
    frames: list[Image.Image] = []
    orientation: int | None = None
    for index in indices:
        image.seek(index)
        _check_dimensions(image.size, limits)  # frames of an MPO file can differ in size
        image.load()
        if index == 0:
            orientation = _read_orientation(image)  # PNG's eXIf may follow the pixels
        frames.append(_apply_orientation(_to_rgb(image), orientation))
    return frames


# --- Orientation and colour. -------------------------------------------------------------------


def _read_orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG)
    except Exception:  # noqa: BLE001 - unreadable metadata: keep the pixels as stored
        return None
    return value if isinstance(value, int) else None


def _apply_orientation(frame: Image.Image, orientation: int | None) -> Image.Image:
    method = _ORIENTATION_TRANSPOSE.get(orientation) if orientation is not None else None
    return frame if method is None else frame.transpose(method)


def _to_rgb(image: Image.Image) -> Image.Image:
    """A new RGB image: alpha over white, high-bit-depth greyscale scaled to 8 bits."""
    if image.mode.startswith("I;16"):
        image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8))
    elif image.mode in ("I", "F"):
        image = Image.fromarray(_stretch_to_uint8(np.asarray(image)))
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba).convert("RGB")
    return image.copy() if image.mode == "RGB" else image.convert("RGB")


def _stretch_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map 32-bit int/float pixels to 0..255 by their finite range (kept if already 0..255)."""
    values = values.astype(np.float32)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, dtype=np.uint8)
    low = float(values.min(where=finite, initial=np.inf))
    high = float(values.max(where=finite, initial=-np.inf))
    np.nan_to_num(values, copy=False, nan=low, posinf=high, neginf=low)
    if low < 0 or high > 255:
        values = (values - low) * np.float32(255.0 / (high - low)) if high > low else values * 0
    return np.rint(values).astype(np.uint8)


# --- numpy arrays. -----------------------------------------------------------------------------


def _validate_array(array: np.ndarray) -> np.ndarray:
    """Check shape and dtype; return the array as (H, W) or (H, W, 3|4)."""
    if array.dtype.kind not in "buif":
        raise ImageError(
            f"unsupported array dtype {array.dtype}; expected uint8, bool, integer or float"
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            f"unsupported array shape {array.shape}; expected (H, W), (H, W, 1), (H, W, 3) "
            "or (H, W, 4)"
        )
    if array.size == 0:
        raise ImageError(f"image array is empty (shape {array.shape})")
    return array


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    kind = array.dtype.kind
    if kind == "b":
        return array.astype(np.uint8) * np.uint8(255)
    if kind == "f":
        if not np.isfinite(array).all():
            raise ImageError("float image array contains NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ImageError(f"float image array must be within [0, 1], got [{low}, {high}]")
        return np.rint(array.astype(np.float32) * 255.0).astype(np.uint8)
    if array.dtype == np.uint8:
        return array
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > 255:
        raise ImageError(f"integer image array must be within 0..255, got {low}..{high}")
    return array.astype(np.uint8)


# --- Small helpers. ----------------------------------------------------------------------------


def _pixel_digest(frame: Image.Image) -> str:
    digest = hashlib.sha256(f"{frame.width}x{frame.height}:".encode())
    digest.update(frame.tobytes())
    return digest.hexdigest()


def _describe(exc: BaseException) -> str:
    return _shorten(f"{type(exc).__name__}: {exc}")


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
