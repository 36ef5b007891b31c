"""Measure the image detector against every bar of the image channel, into one JSON report.

    python -m safety.evaluation.image_report [--out eval/image/results/image_cnn.json]

Reads only the ``split == "eval"`` rows of the image suites (``eval/image``; the shared images
must exist, the packaged ones come with scikit-image and scikit-learn). The detector is run twice
on the same decoded images, with tiles (the shipped setting) and without, so the report shows
what the multi-scale views buy and cost. At the default policy's review threshold:

* ``benign``: false-positive rate of ``sexual`` and of ``weapons``, overall and per group (COCO,
  packaged sample images, COCO photos with knives or scissors); for ``sexual`` also over every
  benign photo of both splits (open_nsfw has no parameter fitted on them);
* ``weapons`` (basegun): recall, per label too, and AUROC against the benign eval photos;
* ``knives`` (AGH CCTV frames): AUROC knife vs no_knife, recall and false-positive rate;
* calibration of ``weapons`` (ECE, 10 equal-width bins) over all eval rows;
* seconds per image, and the Grad-CAM regions' share of flagged images;
* small objects in large scenes (``composites``): each basegun eval photo, shrunk so its longer
  side is ``OBJECT_FRACTION`` of the scene width, pasted at a seeded random place into a benign
  COCO eval photo enlarged to ``SCENE``; AUROC and recall against the same scenes without it.
  Synthetic (a studio photo pasted into a street scene), but it isolates what scale costs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from safety.detectors.image.cnn import ImageCNNDetector
from safety.evaluation import metrics
from safety.evaluation.suites import finish_report, image_suite_path, load_jsonl, resolve_image
from safety.images import decode_image
from safety.limits import InputLimits
from safety.policy import get_policy
from safety.taxonomy import Category

ROUND = 4
SUITES = ("benign", "weapons", "knives")
SCENE = (1280, 960)
OBJECT_FRACTION = 0.2


def _r(x: float) -> float:
    return round(float(x), ROUND)


def eval_rows() -> list[dict]:
    return [{**row, "suite": suite} for suite in SUITES for row in load_jsonl(image_suite_path(suite))
            if row["split"] == "eval"]


def score(detector: ImageCNNDetector, images: list, batch: int = 8) -> tuple[np.ndarray, np.ndarray, float, int]:
    """(sexual scores, weapons scores, seconds per image, images with a region)."""
    sexual, weapons, with_region = [], [], 0
    started = time.perf_counter()
    for start in range(0, len(images), batch):
        for detection in detector.predict_batch(images[start:start + batch]):
            sexual.append(detection.scores[Category.SEXUAL])
            weapons.append(detection.scores[Category.WEAPONS])
            with_region += bool(detection.regions)
    seconds = (time.perf_counter() - started) / max(1, len(images))
    return np.asarray(sexual), np.asarray(weapons), seconds, with_region


def report(rows: list[dict], sexual: np.ndarray, weapons: np.ndarray, review: dict[Category, float]) -> dict:
    suite = np.asarray([r["suite"] for r in rows])
    y = np.asarray([r["labels"]["weapons"] for r in rows])
    groups = [set(r.get("groups", [])) for r in rows]
    flag_s, flag_w = sexual >= review[Category.SEXUAL], weapons >= review[Category.WEAPONS]

    def rate(mask: np.ndarray, flags: np.ndarray) -> dict:
        return {"n": int(mask.sum()), "flagged": int(flags[mask].sum()), "rate": _r(flags[mask].mean()) if mask.any() else None}

    benign = suite == "benign"
    out: dict = {"benign": {
        "sexual_fpr": rate(benign, flag_s),
        "weapons_fpr": rate(benign, flag_w),
        "by_group": {g: {"sexual": rate(benign & np.asarray([g in gs for gs in groups]), flag_s),
                         "weapons": rate(benign & np.asarray([g in gs for gs in groups]), flag_w)}
                     for g in ("coco", "packaged", "confuser")},
        "flagged_ids": sorted(r["id"] for r, f in zip(rows, flag_s | flag_w, strict=True) if f and r["suite"] == "benign"),
    }}
    guns = suite == "weapons"
    both = guns | benign
    out["weapons"] = {
        "recall": rate(guns, flag_w),
        "by_label": {g: rate(guns & np.asarray([g in gs for gs in groups]), flag_w)
                     for g in ("handgun", "long_gun", "ammo_or_magazine")},
        "auroc_vs_benign": _r(metrics.auroc(y[both], weapons[both])),
        "missed_ids": sorted(r["id"] for r, f in zip(rows, flag_w, strict=True) if r["suite"] == "weapons" and not f),
    }
    knives = suite == "knives"
    out["knives"] = {
        "auroc": _r(metrics.auroc(y[knives], weapons[knives])),
        "recall": rate(knives & (y == 1), flag_w),
        "fpr": rate(knives & (y == 0), flag_w),
    }
    out["weapons_calibration"] = {
        "ece_all_eval": _r(metrics.expected_calibration_error(y, weapons)),
        "ece_knives": _r(metrics.expected_calibration_error(y[knives], weapons[knives])),
    }
    out["sexual_max_on_eval"] = _r(sexual.max())
    return out


def composites(rows: list[dict], images: list) -> tuple[list, np.ndarray]:
    """Large benign scenes, each also with one small weapon photo pasted in (see the module doc)."""
    from PIL import Image

    scenes = [img.first.resize(SCENE, Image.Resampling.BILINEAR) for r, img in zip(rows, images, strict=True)
              if r["suite"] == "benign" and "coco" in r.get("groups", [])]
    objects = [img.first for r, img in zip(rows, images, strict=True) if r["suite"] == "weapons"]
    rng = np.random.default_rng(0)
    out, labels = [decode_image(scene) for scene in scenes], [0] * len(scenes)
    for index, weapon in enumerate(objects):
        scene = scenes[index % len(scenes)].copy()
        scale = OBJECT_FRACTION * SCENE[0] / max(weapon.size)
        small = weapon.resize((max(1, round(weapon.width * scale)), max(1, round(weapon.height * scale))),
                              Image.Resampling.BILINEAR)
        x = int(rng.integers(0, SCENE[0] - small.width + 1))
        y = int(rng.integers(0, SCENE[1] - small.height + 1))
        scene.paste(small, (x, y))
        out.append(decode_image(scene))
        labels.append(1)
    return out, np.asarray(labels)


def composite_report(weapons: np.ndarray, labels: np.ndarray, review: float) -> dict:
    flagged = weapons >= review
    return {"n_with_weapon": int(labels.sum()), "n_without": int((labels == 0).sum()),
            "auroc": _r(metrics.auroc(labels, weapons)), "recall": _r(flagged[labels == 1].mean()),
            "fpr": _r(flagged[labels == 0].mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("eval/image/results/image_cnn.json"))
    parser.add_argument("--policy", default="default")
    args = parser.parse_args(argv)
    started = time.time()
    policy = get_policy(args.policy)
    review = {c: policy.thresholds(c).review for c in (Category.SEXUAL, Category.WEAPONS)}
    rows = eval_rows()
    images = [decode_image(resolve_image(r["image"]), limits=InputLimits()) for r in rows]
    result: dict = {"policy": policy.name, "review_thresholds": {c.value: t for c, t in review.items()},
                    "eval_images": {s: sum(r["suite"] == s for r in rows) for s in SUITES}}
    scenes, scene_labels = composites(rows, images)
    result["composites"] = {"scene": list(SCENE), "object_fraction": OBJECT_FRACTION}
    for name, tiles in (("tiles", True), ("whole_only", False)):
        detector = ImageCNNDetector.load(tiles=tiles)
        sexual, weapons, seconds, with_region = score(detector, images)
        result.setdefault("detector", {"id": detector.info.id, "version": detector.info.version,
                                       "sha256": detector.info.sha256})
        flagged = int(((sexual >= review[Category.SEXUAL]) | (weapons >= review[Category.WEAPONS])).sum())
        result[name] = {**report(rows, sexual, weapons, review), "seconds_per_image": _r(seconds),
                        "flagged_images": flagged, "flagged_with_region": with_region}
        _, scene_weapons, scene_seconds, _ = score(detector, scenes)
        result["composites"][name] = {**composite_report(scene_weapons, scene_labels, review[Category.WEAPONS]),
                                      "seconds_per_image": _r(scene_seconds)}
    # open_nsfw has no parameter fitted on any suite image, so its false-positive rate can also be
    # read over every benign photo (both splits), a larger sample than the eval split alone
    # (``detector`` is the last one loaded: the sexual score does not depend on tiles).
    benign_all = load_jsonl(image_suite_path("benign"))
    sexual_all, _, _, _ = score(detector, [decode_image(resolve_image(r["image"]), limits=InputLimits())
                                           for r in benign_all])
    flagged_all = sexual_all >= review[Category.SEXUAL]
    result["sexual_fpr_all_benign_photos"] = {
        "n": len(benign_all), "flagged": int(flagged_all.sum()), "rate": _r(flagged_all.mean()),
        "flagged_ids": sorted(r["id"] for r, f in zip(benign_all, flagged_all, strict=True) if f)}
    return finish_report(result, args.out, started)


if __name__ == "__main__":
    raise SystemExit(main())
