"""One small protocol per detector kind, each batched.

A detector takes a batch of inputs and returns one :class:`Detection` per input, in order.
Single calls go through the batch path (:func:`predict_one`), so there is one code path to test
and to optimise. Scores are keyed by the canonical taxonomy; each detector maps its own label
names onto it through the explicit ``label_map`` in its :class:`DetectorInfo`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from safety.taxonomy import Category

if TYPE_CHECKING:
    from safety.images import DecodedImage


class DetectorKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    TEXT_IMAGE = "text_image"


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorInfo:
    """What a detector is: reported in every result that used it."""

    id: str
    version: str
    kind: DetectorKind
    #: sha256 of the artifact manifest the weights were loaded from (integrity-checked).
    sha256: str
    #: The model's own label name -> canonical category. Labels not in the table are reported in
    #: ``raw_scores`` but never become category scores.
    label_map: Mapping[str, Category] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TextSpan:
    """A character span of the input text that drove a category's score (an explanation)."""

    start: int
    end: int
    category: Category
    score: float


@dataclass(frozen=True, slots=True)
class ImageRegion:
    """A part of the image that drove a category's score (an explanation)."""

    category: Category
    #: The category's score in the view the region was found in.
    score: float
    #: (x0, y0, x1, y1) in pixels of the decoded frame (EXIF orientation applied), x1/y1 exclusive.
    box: tuple[int, int, int, int]
    #: Index of the sampled frame (animated images), 0 for still images.
    frame: int = 0
    #: ``"whole"`` when the whole frame fired, ``"tile"`` when one of its tiles did.
    view: str = "whole"
    #: How the box was found: ``"grad_cam"`` inside the view, or ``"view"`` (the view itself).
    method: str = "grad_cam"


@dataclass(frozen=True, slots=True)
class Detection:
    """One input's output from one detector."""

    #: Canonical category -> probability-like score in [0, 1].
    scores: Mapping[Category, float]
    #: The model's own label -> score, for explanations and debugging.
    raw_scores: Mapping[str, float] = field(default_factory=dict)
    #: Text spans that explain the scores (text detectors, flagged inputs).
    spans: tuple[TextSpan, ...] = ()
    #: Normalisations (e.g. "leet", "spacing") of the input whose form gave the reported scores;
    #: empty when the input as given scored highest.
    transforms: tuple[str, ...] = ()
    #: The scores of the input as given, when a normalised form scored higher on some category.
    unnormalized_scores: Mapping[Category, float] | None = None
    #: Image regions that explain the scores (image detectors, flagged inputs).
    regions: tuple[ImageRegion, ...] = ()
    #: Named signals that are not category scores (cross-modal ``similarity``, ``mismatch``...):
    #: reported beside the scores, read by the combiner, never judged by a policy directly.
    signals: Mapping[str, float] = field(default_factory=dict)


def map_labels(raw_scores: Mapping[str, float], label_map: Mapping[str, Category]) -> dict[Category, float]:
    """Project a model's raw label scores onto the canonical taxonomy (max if two labels share one)."""
    scores: dict[Category, float] = {}
    for label, category in label_map.items():
        if label in raw_scores:
            scores[category] = max(scores.get(category, 0.0), float(raw_scores[label]))
    return scores


@runtime_checkable
class TextDetector(Protocol):
    info: DetectorInfo

    def predict_batch(self, texts: Sequence[str]) -> list[Detection]: ...


@runtime_checkable
class TextExplainer(Protocol):
    """A text detector that can say which spans drove a category, on request. The pipeline asks
    only for the texts whose verdict was not ``allow`` (bundle option ``explain_text``), all of a
    batch's in one call."""

    def explain_many(self, requests: Sequence[tuple[str, Category]]) -> list[tuple[TextSpan, ...]]: ...


@runtime_checkable
class ImageDetector(Protocol):
    info: DetectorInfo

    def predict_batch(self, images: Sequence["DecodedImage"]) -> list[Detection]: ...


@runtime_checkable
class TextImageDetector(Protocol):
    info: DetectorInfo

    def predict_batch(self, pairs: Sequence[tuple[str, "DecodedImage"]]) -> list[Detection]: ...


Detector = TextDetector | ImageDetector | TextImageDetector


def predict_one(detector: Detector, item: object) -> Detection:
    """Score one input through the detector's batch path."""
    (detection,) = detector.predict_batch([item])  # type: ignore[list-item]
    return detection
