"""ImageCNNDetector's logic on a transparent fake scorer: views, max over views and frames,
batching, calibration hook and Grad-CAM regions mapped back into frame pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from safety.detectors.image.cnn import ImageCNNDetector
from safety.detectors.image.views import FULL_WINDOW, TileGrid
from safety.detectors.protocol import DetectorInfo, DetectorKind, ImageDetector, predict_one
from safety.images import decode_image
from safety.taxonomy import Category

RED = (230, 20, 20)
GREY = (128, 128, 128)


class RedScorer:
    """logit = 200 * (mean over the map of how red each cell is) - 4: red patches fire the score,
    and the bigger their share of the view, the higher."""

    category = Category.WEAPONS
    input_size = 64
    window = FULL_WINDOW
    cache_id = None  # counts its forward passes: never served from the shared view cache

    def __init__(self, grid: TileGrid | None) -> None:
        self.grid = grid
        self.calls: list[int] = []

    def preprocess(self, crops):
        arrays = [np.asarray(c.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR), np.float32) / 255 for c in crops]
        return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())

    def features(self, x):
        self.calls.append(x.shape[0])
        redness = (x[:, 0] - x[:, 1:].mean(dim=1)).clamp_min(0)[:, None]
        return torch.nn.functional.avg_pool2d(redness, 8)  # (N, 1, 8, 8)

    def logit(self, fmap):
        return 200 * fmap.mean(dim=(1, 2, 3)) - 4

    def probability(self, logits):
        return 1 / (1 + np.exp(-np.asarray(logits, float)))

    def outputs(self, fmap):
        return torch.stack([self.logit(fmap), fmap.mean(dim=(1, 2, 3))], dim=1)

    def describe(self, outputs):
        return [{"red": float(v)} for v in outputs[:, 1]]


def detector(grid: TileGrid | None = TileGrid(), **kwargs) -> ImageCNNDetector:
    info = DetectorInfo(id="fake-cnn", version="0", kind=DetectorKind.IMAGE, sha256="0" * 64)
    return ImageCNNDetector(scorers=[RedScorer(grid)], info=info, **kwargs)


def scene(size=(1280, 960), square=(1000, 700, 1100, 800)) -> Image.Image:
    image = Image.new("RGB", size, GREY)
    if square:
        image.paste(RED, square)
    return image


def test_is_an_image_detector():
    assert isinstance(detector(), ImageDetector)


def test_a_small_object_fires_in_its_tile_not_in_the_whole_frame():
    image = decode_image(scene())
    whole = predict_one(detector(grid=None), image)
    tiled = predict_one(detector(), image)
    assert whole.scores[Category.WEAPONS] < 0.5 <= tiled.scores[Category.WEAPONS]
    (region,) = tiled.regions
    assert region.view == "tile" and region.method == "grad_cam" and region.frame == 0
    x0, y0, x1, y1 = region.box
    # the box lies on the red square (to the precision of an 8x8 map of the tile)
    assert 1000 - 80 <= x0 <= 1000 and 1100 <= x1 <= 1100 + 80
    assert 700 - 80 <= y0 <= 700 and 800 <= y1 <= 800 + 80
    assert region.score == pytest.approx(tiled.scores[Category.WEAPONS], abs=1e-6)


def test_regions_only_above_the_explain_threshold_and_only_when_asked():
    image = decode_image(scene(square=(0, 0, 1280, 960)))  # all red: fires whole
    assert predict_one(detector(), image).regions[0].view == "whole"
    assert predict_one(detector(explain=False), image).regions == ()
    assert predict_one(detector(), decode_image(scene(square=None))).regions == ()


def test_an_animated_image_scores_its_worst_frame():
    frames = [scene(size=(200, 200), square=None), scene(size=(200, 200), square=(0, 0, 200, 200)),
              scene(size=(200, 200), square=None)]
    import io
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    image = decode_image(buffer.getvalue())
    assert len(image.frames) == 3
    detection = predict_one(detector(), image)
    assert detection.scores[Category.WEAPONS] > 0.99
    assert detection.regions[0].frame == 1


def test_batches_are_chunked_and_equal_to_single_calls():
    images = [decode_image(scene()), decode_image(scene(square=None)), decode_image(scene(size=(300, 200), square=(0, 0, 50, 50)))]
    small_batches = detector(batch_size=2)
    batched = small_batches.predict_batch(images)
    assert max(small_batches.scorers[0].calls) <= 2
    singles = [predict_one(detector(), image) for image in images]
    for a, b in zip(batched, singles, strict=True):
        assert a.scores[Category.WEAPONS] == pytest.approx(b.scores[Category.WEAPONS], abs=1e-6)
        assert a.regions == b.regions
        assert a.raw_scores == pytest.approx(b.raw_scores)


def test_raw_scores_describe_the_best_view():
    image = decode_image(scene())
    tiled, whole = predict_one(detector(), image), predict_one(detector(grid=None), image)
    assert tiled.raw_scores["red"] > 3 * whole.raw_scores["red"]  # the tile's, not the frame's
