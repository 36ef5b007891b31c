"""The image channel's detector: CNN view scorers, multi-view max, and Grad-CAM regions.

Each scorer owns one CNN and one category (``open_nsfw`` -> ``sexual``; EfficientNet-Lite0 ->
``weapons``) together with the preprocessing that travels with its weights. For a batch of images:

1. every sampled frame of every image becomes views: the whole frame, plus overlapping tiles
   when the scorer has a tile grid and the frame is large (:mod:`safety.detectors.image.views`);
2. all views of the batch are stacked into tensors of at most ``batch_size`` views and scored in
   one forward pass per chunk (4 by default: on the 2-core reference machine both CNNs peak at
   batches of 2 to 4 and slow down beyond 8, see ``bench/results/image_throughput.json``);
3. an image's category score is its best view's (max over frames and tiles), mapped through the
   scorer's calibration;
4. when that score reaches ``explain_threshold``, Grad-CAM on the best view gives the region that
   drove it, as a box in the frame's pixels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from PIL import Image

from safety.detectors.image.gradcam import cam_box, grad_cam
from safety.detectors.image.views import Box, TileGrid, View, Window, map_box, views_of
from safety.detectors.image.shared import view_outputs
from safety.detectors.protocol import Detection, DetectorInfo, DetectorKind, ImageRegion
from safety.taxonomy import Category

if TYPE_CHECKING:
    from safety.images import DecodedImage


class ViewScorer(Protocol):
    """One CNN scoring one category on views (crops) of frames."""

    category: Category
    grid: TileGrid | None
    input_size: int
    #: Where the model input sits inside a resized view (for mapping Grad-CAM boxes back).
    window: Window

    def preprocess(self, crops: Sequence[Image.Image]) -> torch.Tensor: ...

    def features(self, x: torch.Tensor) -> torch.Tensor: ...

    #: Identifies the model and its preprocessing in the shared view cache
    #: (``safety.detectors.image.shared``); ``None``: never cached.
    cache_id: str | None

    def logit(self, fmap: torch.Tensor) -> torch.Tensor: ...

    def outputs(self, fmap: torch.Tensor) -> torch.Tensor:
        """(n, k) per view: column 0 is the logit, the rest is what ``describe`` (and other
        detectors sharing the view) read."""
        ...

    def probability(self, logits: np.ndarray) -> np.ndarray: ...

    def describe(self, outputs: torch.Tensor) -> list[dict[str, float]]: ...


@dataclass(slots=True)
class _Scored:
    scores: dict[Category, float] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)
    regions: list[ImageRegion] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ViewScores:
    """Every view's logit and description for a batch of images, in view order."""

    views: list[list[View]]
    logits: list[np.ndarray]
    described: list[list[dict[str, float]]]


class ImageCNNDetector:
    def __init__(self, *, scorers: Sequence[ViewScorer], info: DetectorInfo, explain: bool = True,
                 explain_threshold: float = 0.5, batch_size: int = 4) -> None:
        self.scorers = tuple(scorers)
        self.info = info
        self.explain = explain
        self.explain_threshold = explain_threshold
        self.batch_size = batch_size

    @classmethod
    def load(cls, *, tiles: bool = True, explain: bool = True, explain_threshold: float = 0.5,
             batch_size: int = 4, id: str = "image-cnn",  # noqa: A002 - the registry's name
             runtime: str = "torch") -> "ImageCNNDetector":
        """open_nsfw (``sexual``) and the EfficientNet-Lite0 weapons scorer, from their artifacts.

        ``tiles=False`` scores each frame whole only (faster, blind to small objects in large
        scenes; give it its own ``id``, its scores differ); ``explain=False`` skips Grad-CAM regions.
        ``runtime="onnxruntime"`` runs both CNNs in ONNX Runtime (see
        :mod:`safety.detectors.image.onnx_runtime`); Grad-CAM regions then run on the torch model
        behind it, for flagged images only.
        """
        from safety.detectors.image.efficientnet import WeaponsScorer
        from safety.detectors.image.open_nsfw import OpenNSFWScorer

        nsfw, weapons = OpenNSFWScorer.load(), WeaponsScorer.load(tiles=tiles)
        artifacts = [nsfw.artifact, weapons.artifact]
        scorers, runtime_version = [nsfw, weapons], ""
        if runtime != "torch":
            from safety.detectors.image.onnx_runtime import for_runtime

            scorers, runtime_version = for_runtime(scorers, runtime=runtime, explain=explain)
        info = DetectorInfo(
            id=id,
            version="+".join(f"{a.name}@{a.version}" for a in artifacts) + runtime_version,
            kind=DetectorKind.IMAGE,
            sha256=hashlib.sha256("\n".join(a.sha256 for a in artifacts).encode()).hexdigest(),
            label_map={"nsfw": Category.SEXUAL, "weapons": Category.WEAPONS},
        )
        return cls(scorers=scorers, info=info, explain=explain, explain_threshold=explain_threshold,
                   batch_size=batch_size)

    # -- protocol -------------------------------------------------------------------------------

    def predict_batch(self, images: Sequence["DecodedImage"]) -> list[Detection]:
        out = [_Scored() for _ in images]
        for scorer in self.scorers:
            scored = self.score_views(scorer, images)
            for index, (views, logits, described) in enumerate(zip(scored.views, scored.logits, scored.described,
                                                                   strict=True)):
                best = int(np.argmax(logits))
                probability = float(scorer.probability(logits[best:best + 1])[0])
                slot = out[index]
                slot.scores[scorer.category] = probability
                slot.raw.update(described[best])
                if self.explain and probability >= self.explain_threshold:
                    slot.regions.append(self._region(scorer, images[index].frames, views[best], probability))
        return [Detection(scores=s.scores, raw_scores=s.raw, regions=tuple(s.regions)) for s in out]

    # -- internals ------------------------------------------------------------------------------

    def score_views(self, scorer: ViewScorer, images: Sequence["DecodedImage"]) -> ViewScores:
        """Score every view of every image with ``scorer``, ``batch_size`` views per forward pass
        (views another detector already ran come from the shared view cache)."""
        views = [views_of(image.frames, scorer.grid) for image in images]
        outputs = view_outputs(scorer, images, views, batch_size=self.batch_size)
        logits = outputs[:, 0].double().numpy() if len(outputs) else np.empty(0)
        described = scorer.describe(outputs) if len(outputs) else []
        per_image_logits, per_image_described, offset = [], [], 0
        for image_views in views:
            per_image_logits.append(logits[offset:offset + len(image_views)])
            per_image_described.append(described[offset:offset + len(image_views)])
            offset += len(image_views)
        return ViewScores(views, per_image_logits, per_image_described)

    @staticmethod
    def _region(scorer: ViewScorer, frames: Sequence[Image.Image], view: View, probability: float) -> ImageRegion:
        scorer = getattr(scorer, "torch", scorer)  # Grad-CAM needs gradients: the torch model behind a runtime
        x = scorer.preprocess([view.crop(frames)])
        cam = grad_cam(scorer.features, scorer.logit, x)
        inner = cam_box(cam, (scorer.input_size, scorer.input_size))
        if inner is None:  # a flat map explains nothing finer than the view itself
            box: Box = view.box
            method = "view"
        else:
            box = map_box(inner, scorer.input_size, view.box, scorer.window)
            method = "grad_cam"
        return ImageRegion(category=scorer.category, score=round(probability, 6), box=box, frame=view.frame,
                           view=view.kind, method=method)
