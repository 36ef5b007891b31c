"""Measure the cross-modal detector against the bars of the cross-modal channel, into one JSON report.

    python -m safety.evaluation.crossmodal_report [--out eval/crossmodal/results/conse.json]

Reads ``eval/crossmodal/pairs/suite.jsonl`` (built by ``eval/crossmodal/build.py``; every pair
comes from the image suites' eval split) and resolves COCO captions from ``../shared``:

* matched vs shuffled captions: AUROC of ``similarity`` and of ``match`` (COCO, and the packaged
  sample images with the captions written for them);
* benign text over a weapons image: the ``mismatch`` threshold that flags 5% of the matched
  benign pairs, and the share of benign-text-over-weapons pairs above it (recall at 5% FPR),
  for basegun photos and knife frames;
* unsafe text over a benign image, and every kind: the mean of each signal.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from safety.detectors.crossmodal.detector import SIGNALS, CrossModalDetector
from safety.evaluation import metrics
from safety.evaluation.suites import finish_report, load_jsonl, resolve_image, shared_data_dir
from safety.images import decode_image

ROUND = 4
SUITE = Path(__file__).resolve().parents[2] / "eval" / "crossmodal" / "pairs" / "suite.jsonl"
TARGET_FPR = 0.05


def _r(x: float) -> float:
    return round(float(x), ROUND)


def resolve_texts(rows: list[dict]) -> list[str]:
    with (shared_data_dir() / "images" / "captions_coco_mini" / "manifest.csv").open(encoding="utf-8") as fh:
        captions = {int(e["coco_id"]): e["all_captions"].split(" ||| ") for e in csv.DictReader(fh)}
    return [row["text"] if row["text"] is not None else captions[row["caption"]["coco_id"]][row["caption"]["index"]]
            for row in rows]


def score(detector: CrossModalDetector, rows: list[dict], batch: int = 16) -> dict[str, np.ndarray]:
    texts = resolve_texts(rows)
    decoded: dict[str, object] = {}
    for row in rows:  # each image once, however many pairs it is in
        if row["image"] not in decoded:
            decoded[row["image"]] = decode_image(resolve_image(row["image"]))
    images = [decoded[row["image"]] for row in rows]
    out: dict[str, list[float]] = {name: [] for name in SIGNALS}
    for start in range(0, len(rows), batch):
        for detection in detector.predict_batch(list(zip(texts[start:start + batch], images[start:start + batch],
                                                         strict=True))):
            for name in SIGNALS:
                out[name].append(detection.signals[name])
    return {name: np.asarray(values) for name, values in out.items()}


def report(rows: list[dict], signals: dict[str, np.ndarray]) -> dict:
    kind = np.asarray([r["kind"] for r in rows])
    image_id = [r["image_id"] for r in rows]
    coco = np.asarray([i.startswith("coco-") for i in image_id])
    pairs = (kind == "matched") | (kind == "shuffled")
    match = np.asarray([r["labels"]["match"] for r in rows])
    out: dict = {"pairs": {k: int((kind == k).sum()) for k in sorted(set(kind))}}
    out["matched_vs_shuffled"] = {
        subset: {name: _r(metrics.auroc(match[mask], signals[name][mask])) for name in ("similarity", "match")}
        for subset, mask in (("all", pairs), ("coco", pairs & coco), ("packaged", pairs & ~coco))
    }
    benign, unsafe = kind == "matched", kind == "benign_text_unsafe_image"
    knife = np.asarray([i.startswith("agh-") for i in image_id])

    def recall(positives: np.ndarray) -> tuple[float, float]:
        mask = positives | benign
        return metrics.recall_at_fpr(positives[mask], signals["mismatch"][mask], TARGET_FPR)

    overall, threshold = recall(unsafe)
    out["mismatch"] = {
        "threshold_at_5pct_fpr_on_matched_benign": _r(threshold),
        "fpr_on_matched_benign": _r((signals["mismatch"][benign] > threshold).mean()),
        "recall_benign_text_over_weapons": _r(overall),
        "recall_basegun": _r(recall(unsafe & ~knife)[0]),
        "recall_knife_frames": _r(recall(unsafe & knife)[0]),
        "auroc_vs_matched_benign": _r(metrics.auroc(unsafe[unsafe | benign], signals["mismatch"][unsafe | benign])),
    }
    out["mean_signals_by_kind"] = {k: {name: _r(signals[name][kind == k].mean()) for name in SIGNALS}
                                   for k in sorted(set(kind))}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("eval/crossmodal/results/conse.json"))
    args = parser.parse_args(argv)
    started = time.time()
    detector = CrossModalDetector.load_conse()
    rows = load_jsonl(SUITE)
    result = {"detector": {"id": detector.info.id, "version": detector.info.version, "sha256": detector.info.sha256},
              **report(rows, score(detector, rows))}
    return finish_report(result, args.out, started)


if __name__ == "__main__":
    raise SystemExit(main())
