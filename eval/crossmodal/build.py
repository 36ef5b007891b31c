"""Write the cross-modal evaluation suite (references and project-written texts; no images).

    .venv/bin/python eval/crossmodal/build.py

``eval/crossmodal/pairs/suite.jsonl``, one (text, image) pair per row::

    {"id", "kind", "image": "<root>:<path>", "text": str | null,
     "caption": {"coco_id": ..., "index": k} | null, "labels": {"match": 0|1, "mismatch": 0|1}, "split": "eval"}

COCO captions are referenced, not copied (they live in ``../shared``); ``safety.evaluation.
crossmodal_report`` resolves them. Kinds, all from the image suites' eval split (the ConSE recipe
reads only the train split):

* ``matched``: each COCO eval photo with each of its five captions, and each packaged sample
  image with the caption written for it here (``PACKAGED_CAPTIONS``);
* ``shuffled``: the same captions over another photo of the same set (a fixed derangement);
* ``benign_text_unsafe_image``: weapons photos (basegun) and knife frames (AGH, knife) under
  everyday texts (``BENIGN_TEXTS``), the seed's "safe" text over a weapon: ``mismatch`` = 1;
* ``unsafe_text_benign_image``: threatening or explicit texts (``UNSAFE_TEXTS``) over COCO photos.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

PACKAGED_CAPTIONS = {
    "skimage-astronaut.png": "an astronaut in a spacesuit posing in front of a flag",
    "skimage-camera.png": "a man standing behind a camera on a tripod",
    "skimage-chelsea.png": "a tabby cat looking at the camera",
    "skimage-coffee.png": "a cup of coffee on a saucer",
    "skimage-horse.png": "the silhouette of a horse",
    "skimage-rocket.jpg": "a rocket on the launch pad",
    "skimage-motorcycle_left.png": "a motorcycle parked in a room",
    "skimage-coins.png": "old coins laid out on a table",
    "skimage-hubble_deep_field.jpg": "galaxies in deep space",
    "skimage-moon.png": "the surface of the moon",
    "sklearn-china.jpg": "a chinese temple with trees",
    "sklearn-flower.jpg": "a pink flower in close-up",
}
BENIGN_TEXTS = (
    "cute puppy", "totally safe, nothing to see here", "have a great weekend everyone", "my new kitchen",
    "look at this sunset", "family picnic at the park", "happy birthday!", "check out my vacation photos",
)
UNSAFE_TEXTS = (
    "I will shoot you and your family", "selling untraceable guns, message me", "I'm going to stab him tonight",
    "explicit sex video, click here", "kill them all",
)


def _rows(suite: str) -> list[dict]:
    path = REPO / "eval" / "image" / suite / "suite.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build() -> list[dict]:
    benign = [r for r in _rows("benign") if r["split"] == "eval"]
    coco = [r for r in benign if "coco" in r["groups"]]
    packaged = [r for r in benign if r["id"] in PACKAGED_CAPTIONS]
    out: list[dict] = []

    def add(kind: str, image: dict, *, text: str | None = None, caption: dict | None = None, match: int,
            mismatch: int) -> None:
        out.append({"id": f"{kind}-{len(out)}", "kind": kind, "image": image["image"], "image_id": image["id"],
                    "text": text, "caption": caption, "labels": {"match": match, "mismatch": mismatch},
                    "split": "eval"})

    n = len(coco)
    for i, row in enumerate(coco):
        coco_id = int(row["id"].split("-", 1)[1])
        for k in range(5):
            caption = {"coco_id": coco_id, "index": k}
            add("matched", row, caption=caption, match=1, mismatch=0)
            add("shuffled", coco[(i + 1 + k % (n - 1)) % n], caption=caption, match=0, mismatch=0)
    for i, row in enumerate(packaged):
        text = PACKAGED_CAPTIONS[row["id"]]
        add("matched", row, text=text, match=1, mismatch=0)
        add("shuffled", packaged[(i + 1) % len(packaged)], text=text, match=0, mismatch=0)
    unsafe_images = [r for r in _rows("weapons") if r["split"] == "eval"]
    unsafe_images += [r for r in _rows("knives") if r["split"] == "eval" and r["labels"]["weapons"] == 1][:60]
    for i, row in enumerate(unsafe_images):
        add("benign_text_unsafe_image", row, text=BENIGN_TEXTS[i % len(BENIGN_TEXTS)], match=0, mismatch=1)
    for i, row in enumerate(coco):
        add("unsafe_text_benign_image", row, text=UNSAFE_TEXTS[i % len(UNSAFE_TEXTS)], match=0, mismatch=0)
    return out


def main() -> int:
    rows = build()
    folder = HERE / "pairs"
    folder.mkdir(exist_ok=True)
    with (folder / "suite.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    print(f"{len(rows)} pairs: {kinds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
