"""Write the image evaluation suites (manifests only: the images stay where they are).

    .venv/bin/python eval/image/build.py [--shared ../shared/data]

Suites, each ``eval/image/<name>/suite.jsonl``, one row per image::

    {"id": ..., "image": "<root>:<path>", "labels": {"sexual": 0|1, "weapons": 0|1},
     "split": "train"|"eval", "groups": [...], "source": ..., "license": ...}

``image`` roots: ``shared:`` is ``../shared/data`` (never committed; the rows name the files),
``pkg:<package>/<path>`` a file inside an installed package (resolved by
``safety.evaluation.suites.resolve_image``).

* ``benign``: everyday photos. COCO (captions_coco_mini, 110) split half train / half eval;
  scikit-image's and scikit-learn's sample photos are eval only (never trained on: an
  out-of-domain check of the false-positive rate). COCO photos showing a knife or scissors carry
  the group ``confuser``.
* ``weapons``: weapons_basegun studio and guide photos (handgun, long_gun, ammo_or_magazine),
  half train / half eval, stratified by label.
* ``knives``: weapons_knife_agh 100x100 CCTV frames, knife (weapons 1) vs no_knife (weapons 0),
  half train / half eval, stratified by label.

The split is deterministic: within each (suite, label) stratum rows are ordered by the sha256 of
their id and alternate eval / train, so adding rows never moves existing ones much and nothing
here depends on a random seed. Nothing in the eval split is ever used for training or
calibration (``safety.training.train_image`` reads ``split == "train"`` only).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[1].parent / "shared" / "data"

#: Sample images that ship inside packages (BSD): every still or animated image of
#: ``skimage/data`` in a format the decoder accepts (photos, but also a text scan, a logo,
#: microscopy and a chessboard: benign content a moderation service also sees).
SKIMAGE_PHOTOS = ("astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
                  "color.png", "grass.png", "gravel.png", "horse.png", "hubble_deep_field.jpg", "moon.png",
                  "motorcycle_left.png", "motorcycle_right.png", "rocket.jpg", "retina.jpg", "page.png",
                  "text.png", "logo.png", "chessboard_RGB.png", "clock_motion.png", "cell.png", "ihc.png",
                  "microaneurysms.png", "phantom.png", "chessboard_GRAY.png", "no_time_for_that_tiny.gif")
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
CONFUSERS = {"knife", "scissors", "baseball bat"}
CLEAR = {"sexual": 0, "weapons": 0}


def _split(rows: list[dict]) -> None:
    """Alternate eval/train within each (label) stratum, ordered by sha256(id)."""
    strata: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        strata[json.dumps(row["labels"], sort_keys=True) + row.get("_stratum", "")].append(row)
    for stratum in strata.values():
        stratum.sort(key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest())
        for position, row in enumerate(stratum):
            row["split"] = "eval" if position % 2 == 0 else "train"


def _manifest(folder: Path) -> list[dict]:
    with (folder / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def benign(shared: Path) -> list[dict]:
    rows = []
    for entry in _manifest(shared / "images" / "captions_coco_mini"):
        objects = set(entry["label"].split(";"))
        rows.append({"id": f"coco-{entry['coco_id']}", "image": f"shared:images/captions_coco_mini/{entry['path']}",
                     "labels": dict(CLEAR), "groups": ["coco", *(["confuser"] if objects & CONFUSERS else [])],
                     "source": entry["source_repo"], "license": entry["license"]})
    _split(rows)
    for name in SKIMAGE_PHOTOS:
        rows.append({"id": f"skimage-{name}", "image": f"pkg:skimage/data/{name}", "labels": dict(CLEAR),
                     "split": "eval", "groups": ["packaged"], "source": "scikit-image", "license": "BSD-3-Clause"})
    for name in SKLEARN_PHOTOS:
        rows.append({"id": f"sklearn-{name}", "image": f"pkg:sklearn/datasets/images/{name}", "labels": dict(CLEAR),
                     "split": "eval", "groups": ["packaged"], "source": "scikit-learn", "license": "BSD-3-Clause"})
    return rows


def weapons(shared: Path) -> list[dict]:
    rows = []
    for entry in _manifest(shared / "images" / "weapons_basegun"):
        rows.append({"id": f"basegun-{Path(entry['path']).stem}", "image": f"shared:images/weapons_basegun/{entry['path']}",
                     "labels": {"sexual": 0, "weapons": 1}, "groups": [entry["label"]], "_stratum": entry["label"],
                     "source": entry["source_repo"], "license": entry["license"]})
    _split(rows)
    return rows


def knives(shared: Path) -> list[dict]:
    rows = []
    for entry in _manifest(shared / "images" / "weapons_knife_agh"):
        rows.append({"id": f"agh-{Path(entry['path']).stem}", "image": f"shared:images/weapons_knife_agh/{entry['path']}",
                     "labels": {"sexual": 0, "weapons": int(entry["label"] == "knife")}, "groups": [entry["label"]],
                     "source": entry["source_repo"], "license": entry["license"]})
    _split(rows)
    return rows


SUITES = {"benign": benign, "weapons": weapons, "knives": knives}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    args = parser.parse_args(argv)
    for name, build in SUITES.items():
        rows = build(args.shared)
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        with (folder / "suite.jsonl").open("w", encoding="utf-8") as fh:
            for row in rows:
                row.pop("_stratum", None)
                fh.write(json.dumps(row, sort_keys=True) + "\n")
        splits = {s: sum(r["split"] == s for r in rows) for s in ("train", "eval")}
        print(f"{name}: {len(rows)} rows {splits}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
