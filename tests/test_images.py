"""Tests of safety.images.decode_image: every fixture is built here with Pillow/numpy."""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from safety.errors import (
    CorruptImageError,
    EmptyInputError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    SafetyError,
    UnsupportedImageFormatError,
)
from safety.images import DecodedImage, decode_image
from safety.limits import InputLimits

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RED = (255, 0, 0)
WHITE = (255, 255, 255)
ANIMATION_COLOURS = [((i * 13) % 256, 255 - i * 12, (i * 71) % 256) for i in range(20)]

# --- Fixture builders. -------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def noise(size: tuple[int, int] = (64, 64), seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def two_tone(size: tuple[int, int]) -> Image.Image:
    """Left half red, right half blue."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image


def animation(fmt: str, colours: list[tuple[int, int, int]], size: int = 16) -> bytes:
    frames = [Image.new("RGB", (size, size), colour) for colour in colours]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=40, loop=0)


def patch_png_size(png: bytes, width: int, height: int) -> bytes:
    """Rewrite the IHDR width/height of *png* (with a valid CRC): the header lies, pixels do not."""
    assert png[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + png[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return png[:12] + b"IHDR" + ihdr + crc + png[33:]


def pixel(decoded: DecodedImage, xy: tuple[int, int] = (0, 0), frame: int = 0) -> tuple[int, ...]:
    value = decoded.frames[frame].getpixel(xy)
    assert isinstance(value, tuple)
    return value


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 8) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def assert_rgb(decoded: DecodedImage, size: tuple[int, int]) -> None:
    assert isinstance(decoded, DecodedImage)
    assert decoded.frames and all(frame.mode == "RGB" for frame in decoded.frames)
    assert (decoded.width, decoded.height) == size == decoded.first.size
    assert len(decoded.sha256) == 64


# --- Valid sources. ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
def test_valid_encoded_bytes(fmt: str) -> None:
    decoded = decode_image(encode(Image.new("RGB", (12, 7), RED), fmt))
    assert_rgb(decoded, (12, 7))
    assert decoded.format == fmt
    assert decoded.n_frames == 1 and len(decoded.frames) == 1
    assert close_to(pixel(decoded), RED)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_like_sources(wrap: type) -> None:
    decoded = decode_image(wrap(encode(Image.new("RGB", (5, 3), RED), "PNG")))
    assert_rgb(decoded, (5, 3))


@pytest.mark.parametrize("as_str", [False, True])
def test_path_source(tmp_path: Path, as_str: bool) -> None:
    data = encode(Image.new("RGB", (9, 4), RED), "PNG")
    path = tmp_path / "image.png"
    path.write_bytes(data)
    decoded = decode_image(str(path) if as_str else path)
    assert_rgb(decoded, (9, 4))
    assert decoded.sha256 == decode_image(data).sha256


def test_pil_source_is_converted_but_not_mutated() -> None:
    source = Image.new("RGBA", (6, 4), (255, 0, 0, 0))
    decoded = decode_image(source)
    assert_rgb(decoded, (6, 4))
    assert decoded.format == "RAW" and decoded.n_frames == 1
    assert pixel(decoded) == WHITE
    assert source.mode == "RGBA" and source.getpixel((0, 0)) == (255, 0, 0, 0)
    assert decoded.first is not source


def test_lazy_pil_file_source() -> None:
    source = Image.open(io.BytesIO(encode(Image.new("RGB", (8, 8), RED), "PNG")))
    assert_rgb(decode_image(source), (8, 8))
    assert source.format == "PNG" and source.mode == "RGB"


def _rgba_red_transparent_left() -> np.ndarray:
    array = np.zeros((2, 2, 4), dtype=np.uint8)
    array[:, 0] = (255, 0, 0, 0)  # fully transparent red
    array[:, 1] = (255, 0, 0, 255)  # opaque red
    return array


@pytest.mark.parametrize(
    ("array", "expected_left", "expected_right"),
    [
        pytest.param(np.full((2, 2, 3), (10, 20, 30), np.uint8), (10, 20, 30), (10, 20, 30), id="hw3"),
        pytest.param(np.array([[0, 200], [0, 200]], np.uint8), (0, 0, 0), (200,) * 3, id="uint8-hw"),
        pytest.param(np.full((2, 2, 1), 77, np.uint8), (77,) * 3, (77,) * 3, id="uint8-hw1"),
        pytest.param(_rgba_red_transparent_left(), WHITE, RED, id="uint8-hw4-alpha-over-white"),
        pytest.param(np.array([[0.0, 1.0], [0.0, 1.0]]), (0, 0, 0), WHITE, id="float64"),
        pytest.param(np.full((2, 2, 3), 0.5, np.float32), (128,) * 3, (128,) * 3, id="float32-half"),
        pytest.param(np.array([[False, True], [False, True]]), (0, 0, 0), WHITE, id="bool"),
        pytest.param(np.array([[3, 255], [3, 255]], np.int64), (3, 3, 3), WHITE, id="int64-in-range"),
        pytest.param(np.array([[3, 255], [3, 255]], np.uint16), (3, 3, 3), WHITE, id="uint16-in-range"),
    ],
)
def test_numpy_sources(
    array: np.ndarray, expected_left: tuple[int, ...], expected_right: tuple[int, ...]
) -> None:
    before = array.copy()
    decoded = decode_image(array)
    assert_rgb(decoded, (2, 2))
    assert decoded.format == "RAW"
    assert pixel(decoded, (0, 1)) == expected_left
    assert pixel(decoded, (1, 1)) == expected_right
    np.testing.assert_array_equal(array, before)


def test_numpy_non_contiguous_view() -> None:
    array = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)[:, ::2]
    decoded = decode_image(array)
    assert_rgb(decoded, (3, 4))
    np.testing.assert_array_equal(np.asarray(decoded.first), array)


# --- Modes. ------------------------------------------------------------------------------------


def _palette_image(transparent: bool) -> Image.Image:
    image = Image.new("P", (2, 1), 0)
    image.putpalette([*RED, 0, 0, 255])
    image.putpixel((1, 0), 1)
    if transparent:
        image.info["transparency"] = 0
    return image


def _two_pixels(mode: str, left: Any, right: Any) -> Image.Image:
    image = Image.new(mode, (2, 1), left)
    image.putpixel((1, 0), right)
    return image


def _pa_image() -> Image.Image:
    image = Image.new("PA", (2, 1), (0, 0))
    image.putpalette([*RED] * 256)
    image.putpixel((1, 0), (0, 255))
    return image


MODE_CASES = [
    pytest.param(_palette_image(transparent=False), RED, (0, 0, 255), id="P"),
    pytest.param(_palette_image(transparent=True), WHITE, (0, 0, 255), id="P-transparency"),
    pytest.param(_two_pixels("L", 0, 180), (0, 0, 0), (180,) * 3, id="L"),
    pytest.param(_two_pixels("LA", (0, 0), (180, 255)), WHITE, (180,) * 3, id="LA"),
    pytest.param(_two_pixels("RGBA", (255, 0, 0, 0), (255, 0, 0, 255)), WHITE, RED, id="RGBA"),
    pytest.param(_pa_image(), WHITE, RED, id="PA"),
    pytest.param(_two_pixels("CMYK", (0, 0, 0, 0), (0, 255, 255, 0)), WHITE, RED, id="CMYK"),
    pytest.param(_two_pixels("1", 0, 1), (0, 0, 0), WHITE, id="1"),
    pytest.param(_two_pixels("I", -1000, 1000), (0, 0, 0), WHITE, id="I-stretched"),
    pytest.param(_two_pixels("F", 0.0, 0.5), (0, 0, 0), (1, 1, 1), id="F-in-8-bit-range"),
]


@pytest.mark.parametrize(("image", "left", "right"), MODE_CASES)
def test_modes_from_pil(image: Image.Image, left: tuple[int, ...], right: tuple[int, ...]) -> None:
    decoded = decode_image(image)
    assert_rgb(decoded, (2, 1))
    assert close_to(pixel(decoded, (0, 0)), left, 2)
    assert close_to(pixel(decoded, (1, 0)), right, 2)


@pytest.mark.parametrize(
    ("image", "fmt", "left", "right"),
    [
        pytest.param(_palette_image(transparent=True), "PNG", WHITE, (0, 0, 255), id="png-P-trns"),
        pytest.param(_palette_image(transparent=True), "GIF", WHITE, (0, 0, 255), id="gif-P-trns"),
        pytest.param(_two_pixels("LA", (0, 0), (180, 255)), "PNG", WHITE, (180,) * 3, id="png-LA"),
        pytest.param(_two_pixels("RGBA", (0, 0, 0, 0), (*RED, 255)), "WEBP", WHITE, RED, id="webp-RGBA"),
        pytest.param(_two_pixels("1", 0, 1), "BMP", (0, 0, 0), WHITE, id="bmp-1"),
        pytest.param(_two_pixels("CMYK", (0,) * 4, (0, 0, 0, 255)), "JPEG", WHITE, (0,) * 3, id="jpeg-CMYK"),
    ],
)
def test_modes_from_bytes(
    image: Image.Image, fmt: str, left: tuple[int, ...], right: tuple[int, ...]
) -> None:
    decoded = decode_image(encode(image, fmt, lossless=True) if fmt == "WEBP" else encode(image, fmt))
    assert_rgb(decoded, (2, 1))
    assert close_to(pixel(decoded, (0, 0)), left, 12)
    assert close_to(pixel(decoded, (1, 0)), right, 12)


def test_sixteen_bit_gradient_is_scaled_not_clipped() -> None:
    ramp = np.linspace(0, 65535, 256).astype(np.uint16).reshape(1, 256)
    source = Image.frombytes("I;16", (256, 1), ramp.astype("<u2").tobytes())
    for decoded in (decode_image(source), decode_image(encode(source, "PNG"))):
        values = np.asarray(decoded.first)[0, :, 0].astype(int)
        assert values[0] == 0 and values[-1] == 255
        assert np.all(np.diff(values) >= 0)
        assert len(np.unique(values)) > 200  # a clip to 0..255 would leave ~2 values
        assert 120 <= values[128] <= 135


def test_sixteen_bit_big_endian() -> None:
    source = Image.new("I;16B", (2, 1), 65535)
    assert pixel(decode_image(source)) == WHITE


# --- EXIF orientation. -------------------------------------------------------------------------


def _jpeg_with_exif(exif: bytes) -> bytes:
    return encode(two_tone((40, 20)), "JPEG", exif=exif, quality=95)


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(_jpeg_with_exif(exif.tobytes()))
    assert (decoded.width, decoded.height) == (20, 40)
    # Orientation 6 is "rotate 90 clockwise to display": the red left half ends up on top.
    assert close_to(pixel(decoded, (10, 5)), RED, 40)
    assert close_to(pixel(decoded, (10, 35)), (0, 0, 255), 40)


def test_exif_orientation_applied_to_pil_source() -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    source = Image.open(io.BytesIO(_jpeg_with_exif(exif.tobytes())))
    decoded = decode_image(source)
    assert (decoded.width, decoded.height) == (20, 40)
    assert source.size == (40, 20)


@pytest.mark.parametrize(
    "exif", [b"Exif\x00\x00garbage-not-tiff", b"Exif\x00\x00MM\x00*\x00\x00\xff\xff"]
)
def test_bad_exif_does_not_crash(exif: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        decoded = decode_image(_jpeg_with_exif(exif))
    assert (decoded.width, decoded.height) == (40, 20)


# --- Animations. -------------------------------------------------------------------------------


def test_animated_gif_is_sampled_evenly() -> None:
    decoded = decode_image(animation("GIF", ANIMATION_COLOURS))
    limit = InputLimits().max_image_frames
    assert decoded.format == "GIF"
    assert decoded.n_frames == 20
    assert len(decoded.frames) == limit
    assert_rgb(decoded, (16, 16))
    colours = [pixel(decoded, (8, 8), i) for i in range(limit)]
    assert close_to(colours[0], ANIMATION_COLOURS[0])
    assert close_to(colours[-1], ANIMATION_COLOURS[-1])
    indices = [
        next(j for j, c in enumerate(ANIMATION_COLOURS) if close_to(colour, c, 4)) for colour in colours
    ]
    assert indices == sorted(set(indices))  # distinct frames, in source order
    gaps = np.diff(indices)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced


@pytest.mark.parametrize("fmt", ["WEBP", "PNG", "GIF"])
@pytest.mark.parametrize(("max_frames", "expected"), [(8, [0, 1, 2, 3, 4]), (2, [0, 4]), (1, [0])])
def test_animation_formats(fmt: str, max_frames: int, expected: list[int]) -> None:
    colours = ANIMATION_COLOURS[:5]
    data = encode(
        Image.new("RGB", (8, 8), colours[0]),
        fmt,
        save_all=True,
        append_images=[Image.new("RGB", (8, 8), c) for c in colours[1:]],
        duration=40,
        **({"lossless": True} if fmt == "WEBP" else {}),
    )
    decoded = decode_image(data, limits=InputLimits(max_image_frames=max_frames))
    assert decoded.n_frames == 5
    assert [pixel(decoded, (4, 4), i) for i in range(len(decoded.frames))] == [
        pytest.approx(colours[i], abs=4) for i in expected
    ]


def test_long_animation_is_sampled_within_the_decode_budget() -> None:
    # 16x16 frames, budget = 256 pixels x 4 frames: only the first 4 frames are reachable.
    limits = InputLimits(max_image_pixels=256, max_image_frames=4)
    decoded = decode_image(animation("GIF", ANIMATION_COLOURS), limits=limits)
    assert decoded.n_frames == 20
    assert [pixel(decoded, (8, 8), i) for i in range(4)] == [
        pytest.approx(c, abs=4) for c in ANIMATION_COLOURS[:4]
    ]


# --- Errors. -----------------------------------------------------------------------------------


SMALL_BYTES = InputLimits(max_image_bytes=100)
FEW_PIXELS = InputLimits(max_image_pixels=1_000)


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _tiny_png() -> bytes:
    return encode(Image.new("RGB", (8, 8), RED), "PNG")


def png_claiming(width: int, height: int) -> bytes:
    """An 8x8 PNG whose header claims *width* x *height*."""
    return patch_png_size(_tiny_png(), width, height)


def _closed_image() -> Image.Image:
    image = Image.new("RGB", (2, 2))
    image.close()
    return image


ERROR_CASES = [
    pytest.param(b"", InputLimits(), EmptyInputError, id="zero-bytes"),
    pytest.param(bytearray(), InputLimits(), EmptyInputError, id="zero-bytearray"),
    pytest.param(b"definitely not an image \x00\x01" * 8, InputLimits(), CorruptImageError, id="junk"),
    pytest.param(PNG_MAGIC + b"\x00" * 40, InputLimits(), CorruptImageError, id="png-magic-junk"),
    pytest.param(encode(noise(), "PNG")[:1500], InputLimits(), CorruptImageError, id="truncated-png"),
    pytest.param(half(encode(noise(), "JPEG")), InputLimits(), CorruptImageError, id="half-jpeg"),
    pytest.param(half(encode(noise(), "PNG")), InputLimits(), CorruptImageError, id="half-png"),
    pytest.param(encode(noise((8, 8)), "TIFF"), InputLimits(), UnsupportedImageFormatError, id="tiff"),
    pytest.param(encode(noise((16, 16)), "ICO"), InputLimits(), UnsupportedImageFormatError, id="ico"),
    pytest.param(encode(noise((8, 8)), "PPM"), InputLimits(), UnsupportedImageFormatError, id="ppm"),
    pytest.param(
        _tiny_png(),
        InputLimits(image_formats=frozenset({"JPEG"})),
        UnsupportedImageFormatError,
        id="png-not-allowed",
    ),
    pytest.param(png_claiming(100_000, 100_000), InputLimits(), ImageTooLargeError, id="bomb-10G"),
    pytest.param(png_claiming(8_000, 8_000), InputLimits(), ImageTooLargeError, id="bomb-64M"),
    pytest.param(png_claiming(1, 50_000_000), InputLimits(), ImageTooLargeError, id="bomb-1x50M"),
    pytest.param(png_claiming(InputLimits().max_image_side + 1, 1), InputLimits(), ImageTooLargeError, id="side"),
    pytest.param(
        png_claiming(20_000, 10_000),
        InputLimits(max_image_pixels=10**9),
        ImageTooLargeError,
        id="pillow-bomb-error",
    ),
    pytest.param(png_claiming(0, 8), InputLimits(), CorruptImageError, id="zero-width"),
    pytest.param(encode(noise(), "PNG"), SMALL_BYTES, ImageTooLargeError, id="bytes-over-limit"),
    pytest.param(Image.new("L", (100, 100)), FEW_PIXELS, ImageTooLargeError, id="pil-over-pixels"),
    pytest.param(np.zeros((99, 99, 3), np.uint8), FEW_PIXELS, ImageTooLargeError, id="np-over-pixels"),
    pytest.param(np.full((2, 2), np.nan), InputLimits(), ImageError, id="np-nan"),
    pytest.param(np.full((2, 2, 3), np.inf, np.float32), InputLimits(), ImageError, id="np-inf"),
    pytest.param(np.zeros((2, 2, 2), np.uint8), InputLimits(), ImageError, id="np-2-channels"),
    pytest.param(np.zeros((2, 2, 5), np.uint8), InputLimits(), ImageError, id="np-5-channels"),
    pytest.param(np.zeros((1, 2, 2, 3), np.uint8), InputLimits(), ImageError, id="np-4d"),
    pytest.param(np.zeros(5, np.uint8), InputLimits(), ImageError, id="np-1d"),
    pytest.param(np.array(3, np.uint8), InputLimits(), ImageError, id="np-0d"),
    pytest.param(np.full((2, 2), 1.5), InputLimits(), ImageError, id="np-float-over-1"),
    pytest.param(np.full((2, 2), -0.1), InputLimits(), ImageError, id="np-float-negative"),
    pytest.param(np.full((2, 2), 300, np.int32), InputLimits(), ImageError, id="np-int-over-255"),
    pytest.param(np.full((2, 2), -1, np.int8), InputLimits(), ImageError, id="np-int-negative"),
    pytest.param(np.zeros((0, 5, 3), np.uint8), InputLimits(), ImageError, id="np-empty"),
    pytest.param(np.zeros((2, 2), object), InputLimits(), ImageError, id="np-object"),
    pytest.param(np.zeros((2, 2), complex), InputLimits(), ImageError, id="np-complex"),
    pytest.param(_closed_image(), InputLimits(), CorruptImageError, id="pil-closed"),
    pytest.param(42, InputLimits(), ImageError, id="int"),
    pytest.param([1, 2, 3], InputLimits(), ImageError, id="list"),
    pytest.param(None, InputLimits(), ImageError, id="none"),
]


@pytest.mark.parametrize(("source", "limits", "expected"), ERROR_CASES)
def test_errors(source: object, limits: InputLimits, expected: type[ImageError]) -> None:
    start = time.perf_counter()
    with pytest.raises(expected) as caught:
        decode_image(source, limits=limits)
    assert caught.value.message.strip()
    assert time.perf_counter() - start < 2.0  # rejected from the header, not by decoding


@pytest.mark.parametrize("source", [42, [1, 2, 3], None, {"image": b""}, 1.5])
def test_unsupported_source_type_raises_the_base_class(source: object) -> None:
    with pytest.raises(ImageError) as caught:
        decode_image(source)
    assert type(caught.value) is ImageError
    assert "bytes" in caught.value.message and "numpy.ndarray" in caught.value.message


def test_unsupported_format_message_names_detected_and_allowed() -> None:
    with pytest.raises(UnsupportedImageFormatError) as caught:
        decode_image(encode(noise((8, 8)), "TIFF"))
    assert "TIFF" in caught.value.message and "PNG" in caught.value.message


def test_path_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError):
        decode_image(tmp_path / "missing.png")
    with pytest.raises(ImageNotFoundError):
        decode_image(str(tmp_path))
    with pytest.raises(ImageNotFoundError):
        decode_image("bad\x00path")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(EmptyInputError):
        decode_image(empty)


def test_file_over_byte_limit_is_rejected_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(encode(noise(), "PNG"))

    def refuse_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file must not be opened")

    monkeypatch.setattr("builtins.open", refuse_open)
    with pytest.raises(ImageTooLargeError) as caught:
        decode_image(path, limits=InputLimits(max_image_bytes=100))
    assert "100" in caught.value.message


def test_decoding_leaves_pillow_and_warning_state_alone() -> None:
    max_pixels, truncated = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    filters = list(warnings.filters)
    for source in (_tiny_png(), patch_png_size(_tiny_png(), 100_000, 100_000), b"junk"):
        try:
            decode_image(source)
        except SafetyError:
            pass
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == (max_pixels, truncated)
    assert warnings.filters == filters


# --- Hashes. -----------------------------------------------------------------------------------


def test_sha256_of_encoded_bytes() -> None:
    first = encode(noise((8, 8), seed=1), "PNG")
    other = encode(noise((8, 8), seed=2), "PNG")
    assert decode_image(first).sha256 == decode_image(bytes(first)).sha256
    assert decode_image(first).sha256 != decode_image(other).sha256


def test_sha256_of_raw_pixels() -> None:
    array = np.asarray(noise((5, 4), seed=3))
    assert decode_image(array).sha256 == decode_image(array.copy()).sha256
    assert decode_image(array).sha256 == decode_image(Image.fromarray(array)).sha256
    assert decode_image(array).sha256 != decode_image(np.asarray(noise((5, 4), seed=4))).sha256
    # Same pixel bytes, different shape.
    wide, tall = np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8)
    assert decode_image(wide).sha256 != decode_image(tall).sha256


# --- Fuzzing. ----------------------------------------------------------------------------------


def _fuzz_seeds() -> list[bytes]:
    small = noise((8, 8), seed=5)
    seeds = [encode(small, fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP")]
    seeds.append(encode(small, "WEBP", quality=50))
    seeds.append(encode(small, "WEBP", lossless=True))
    seeds.append(encode(small.convert("RGBA"), "PNG"))
    seeds.append(encode(small.convert("P"), "PNG"))
    rotated = Image.Exif()
    rotated[0x0112] = 6
    seeds.append(encode(two_tone((8, 8)), "JPEG", exif=rotated.tobytes()))
    frames = [Image.new("RGB", (8, 8), colour) for colour in ANIMATION_COLOURS[:3]]
    for fmt in ("GIF", "PNG", "WEBP"):
        seeds.append(encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=40))
    return seeds


FUZZ_SEEDS = _fuzz_seeds()
FUZZ_LIMITS = InputLimits(max_image_pixels=1_000_000)


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(FUZZ_SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        operation = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if operation == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif operation == "set" and data:
            data[position] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]))
        elif operation == "truncate":
            del data[position:]
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif operation == "delete":
            del data[position : position + draw(st.integers(1, 16))]
    return bytes(data)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_images())
def test_fuzz_mutated_images_never_escape(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about odd metadata; that is not an escape
        try:
            decoded = decode_image(data, limits=FUZZ_LIMITS)
        except SafetyError as exc:
            assert isinstance(exc, (ImageError, EmptyInputError)) and exc.message
            return
    assert decoded.frames and all(frame.mode == "RGB" for frame in decoded.frames)
    assert len(decoded.frames) <= FUZZ_LIMITS.max_image_frames <= 8
    assert decoded.n_frames >= 1
    assert decoded.width * decoded.height <= FUZZ_LIMITS.max_image_pixels
