"""The shipped image detector on the held-out image suites (../shared/data; skipped where absent).

Guards against regressions of the figures in ``eval/image/results/image_cnn.json`` (the full
report: ``python -m safety.evaluation.image_report``). Every row here is ``split == "eval"``:
never used to train or calibrate the weapons head.
"""

from __future__ import annotations

import numpy as np
import pytest

from safety.detectors.image.cnn import ImageCNNDetector
from safety.evaluation.metrics import auroc
from safety.evaluation.suites import image_suite_path, load_jsonl, resolve_image
from safety.images import decode_image
from safety.taxonomy import Category

pytestmark = pytest.mark.shared_data


def eval_rows(suite: str) -> list[dict]:
    return [r for r in load_jsonl(image_suite_path(suite)) if r["split"] == "eval"]


@pytest.fixture(scope="module")
def cnn() -> ImageCNNDetector:
    return ImageCNNDetector.load()


def weapons_scores(detector: ImageCNNDetector, rows: list[dict]) -> np.ndarray:
    images = [decode_image(resolve_image(r["image"])) for r in rows]
    return np.asarray([d.scores[Category.WEAPONS] for i in range(0, len(images), 8)
                       for d in detector.predict_batch(images[i:i + 8])])


def test_weapons_photos_against_benign_photos(cnn):
    guns, benign = eval_rows("weapons"), eval_rows("benign")
    scores = weapons_scores(cnn, guns + benign)
    labels = np.asarray([1] * len(guns) + [0] * len(benign))
    # Measured: recall 30/31, benign FPR 1/84, AUROC 0.999 (bars: >= 85%, <= 2%, >= 0.95).
    assert (scores[labels == 1] >= 0.5).mean() >= 0.85
    assert (scores[labels == 0] >= 0.5).mean() <= 0.025
    assert auroc(labels, scores) >= 0.95


def test_knife_frames(cnn):
    rows = eval_rows("knives")[::3]  # a fixed third of the eval split keeps the suite fast
    scores = weapons_scores(cnn, rows)
    labels = np.asarray([r["labels"]["weapons"] for r in rows])
    assert auroc(labels, scores) >= 0.95  # measured on the whole eval split: 0.990 (bar 0.85)


def test_a_weapon_small_in_a_large_scene_is_found_by_a_tile(cnn):
    gun_row = next(r for r in eval_rows("weapons") if "handgun" in r["groups"])
    scene_row = next(r for r in eval_rows("benign") if "coco" in r["groups"])
    gun = decode_image(resolve_image(gun_row["image"])).first
    scene = decode_image(resolve_image(scene_row["image"])).first.resize((1280, 960))
    small = gun.resize((256, round(256 * gun.height / gun.width)))
    scene.paste(small, (900, 600))
    image = decode_image(scene)
    whole_only = ImageCNNDetector(scorers=[s if s.grid is None else _without_tiles(s) for s in cnn.scorers],
                                  info=cnn.info)
    tiled = cnn.predict_batch([image])[0]
    assert tiled.scores[Category.WEAPONS] > whole_only.predict_batch([image])[0].scores[Category.WEAPONS]
    assert tiled.scores[Category.WEAPONS] >= 0.5
    (region,) = [r for r in tiled.regions if r.category is Category.WEAPONS]
    x0, y0, x1, y1 = region.box
    assert region.view == "tile"
    assert x0 < 900 + 256 and x1 > 900 and y0 < 600 + small.height and y1 > 600  # overlaps the pasted gun


def _without_tiles(scorer):
    import copy

    clone = copy.copy(scorer)
    clone.grid = None
    return clone


def test_a_weapons_photo_through_the_pipeline_is_flagged_with_its_region(real_moderator):
    row = next(r for r in eval_rows("weapons") if "handgun" in r["groups"])
    path = resolve_image(row["image"])
    result = real_moderator.moderate(image=path.read_bytes())
    assert result.action.value in {"review", "block"}
    assert result.categories[Category.WEAPONS].flagged and not result.categories[Category.SEXUAL].flagged
    image = result.channels["image"]
    (region,) = [r for r in image.regions if r.category is Category.WEAPONS]
    x0, y0, x1, y1 = region.box
    assert 0 <= x0 < x1 <= result.input.image.width and 0 <= y0 < y1 <= result.input.image.height
    assert any(r.category is Category.WEAPONS and r.code == "category_threshold" for r in result.reasons)
