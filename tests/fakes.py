"""Deterministic test doubles for the detector protocols (never used outside tests)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from safety.detectors.protocol import Detection, DetectorInfo, DetectorKind, map_labels
from safety.taxonomy import Category


class KeywordText:
    """Scores ``insult`` 0.95 when the text contains "idiot", else 0.05. Counts batch calls."""

    def __init__(self) -> None:
        self.info = DetectorInfo(id="keyword-text", version="1", kind=DetectorKind.TEXT, sha256="0" * 64,
                                 label_map={"rude": Category.INSULT})
        self.batches: list[int] = []

    def predict_batch(self, texts: Sequence[str]) -> list[Detection]:
        self.batches.append(len(texts))
        out = []
        for text in texts:
            raw = {"rude": 0.95 if "idiot" in text else 0.05}
            out.append(Detection(scores=map_labels(raw, self.info.label_map), raw_scores=raw))
        return out


class BrightImage:
    """Scores ``weapons`` as the mean brightness of the first frame (white image = 1.0)."""

    def __init__(self) -> None:
        self.info = DetectorInfo(id="bright-image", version="1", kind=DetectorKind.IMAGE, sha256="1" * 64,
                                 label_map={"bright": Category.WEAPONS})

    def predict_batch(self, images) -> list[Detection]:
        out = []
        for image in images:
            raw = {"bright": float(np.asarray(image.first.convert("L")).mean()) / 255.0}
            out.append(Detection(scores=map_labels(raw, self.info.label_map), raw_scores=raw))
        return out


class Failing:
    def __init__(self, kind: DetectorKind = DetectorKind.TEXT) -> None:
        self.info = DetectorInfo(id="failing", version="1", kind=kind, sha256="2" * 64)

    def predict_batch(self, items) -> list[Detection]:
        raise RuntimeError("simulated model crash")


class Slow:
    """Blocks until released (or 10 s), to exercise the timeout path."""

    def __init__(self) -> None:
        self.info = DetectorInfo(id="slow", version="1", kind=DetectorKind.TEXT, sha256="3" * 64)
        self.release = threading.Event()

    def predict_batch(self, items) -> list[Detection]:
        self.release.wait(10)
        return [Detection(scores={Category.INSULT: 0.0}) for _ in items]


class WrongLength:
    def __init__(self) -> None:
        self.info = DetectorInfo(id="wrong-length", version="1", kind=DetectorKind.TEXT, sha256="4" * 64)

    def predict_batch(self, items) -> list[Detection]:
        return []


def loaded(instance):
    """A factory returning ``instance`` (so tests can inspect the detector the registry built)."""
    return lambda: instance


def counting_factory(cls, counter: list):
    def build():
        counter.append(1)
        return cls()
    return build


