from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from safety.detectors.registry import Bundle, DetectorSpec, Registry
from safety.detectors.protocol import DetectorKind
from safety.pipeline import Moderator
from tests import fakes

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the project's shared data at {SHARED_DATA} (present in CI, absent on a fresh machine)")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


def png_bytes(size=(32, 24), color=(200, 30, 30), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def png() -> bytes:
    return png_bytes()


@pytest.fixture(scope="session")
def real_moderator() -> Moderator:
    """The offline default bundle (real Jigsaw BiLSTM), shared by the whole session."""
    return Moderator()


def fake_registry(**channels: DetectorSpec) -> Registry:
    """A registry with the given fake detectors, one bundle ``test`` using them."""
    registry = Registry()
    for spec in channels.values():
        registry.add(spec)
    from safety.taxonomy import Channel

    registry.add_bundle(Bundle(id="test", detectors={Channel(ch): spec.name for ch, spec in channels.items()}))
    return registry


def fake_moderator(*, timeout: float = 5.0, **channels: DetectorSpec) -> Moderator:
    return Moderator(registry=fake_registry(**channels), bundle="test", detector_timeout_s=timeout)


def spec(name: str, kind: DetectorKind, factory) -> DetectorSpec:
    return DetectorSpec(name=name, kind=kind, factory=factory)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    import struct
    import zlib

    data = bytearray(png_bytes(size=(1, 1)))
    ihdr = 8 + 4  # signature, chunk length
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


def tiff_bytes() -> bytes:
    return png_bytes(fmt="TIFF")
