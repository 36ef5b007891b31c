"""Train the calibrated combiner on a composed multimodal set and measure it against single channels.

    python -m safety.training.train_combiner [--out models/combiner]
                                             [--report eval/combined/results/combiner.json]

The composed set (deterministic; nothing here was used to train a channel's model):

* **text only**: Davidson tweets and ToxiGen statements from the text model's ``val`` split (fit)
  and ``test`` split (test), at most ``--text-rows`` of each split in sha256 order. Labels:
  ``toxicity`` (Davidson hate or offensive; ToxiGen hate) and ``identity_attack`` (Davidson hate;
  ToxiGen hate).
* **image only**: the ``eval`` split of the image suites (never seen by the weapons head), halved
  into fit and test by the sha256 of the image id. Labels: ``weapons``; ``sexual`` 0.
* **text + image**: the cross-modal eval pairs (``eval/crossmodal``), on the same image halves,
  at most ``--pairs`` in sha256 order. Labels: ``weapons`` from the image; ``toxicity`` 1 for the
  threatening or explicit texts, 0 for captions and everyday texts; other categories unlabelled.

Each row goes through the default models (bundle ``offline-default-scores``); the combiner is fitted
on the fit rows' channel outputs (``safety.combine.features_of``) and evaluated on the test rows:
per category and channel pattern, ECE and F1 at 0.5 of the combined probability against the
max-merge the pipeline uses today and against each single channel's score.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from safety.artifacts import models_dir, write_manifest
from safety.combine import CalibratedCombiner, features_of, pattern_of
from safety.evaluation import metrics
from safety.evaluation.crossmodal_report import SUITE as PAIRS_SUITE
from safety.evaluation.crossmodal_report import resolve_texts
from safety.evaluation.suites import image_suite_path, load_jsonl, resolve_image, write_result
from safety.pipeline import Moderator
from safety.training.text_data import default_data_dir, load_davidson, load_toxigen

VERSION = "0.2.0"
CATEGORIES = ("toxicity", "identity_attack", "weapons", "sexual")
#: The models whose outputs the combiner is fitted on (the shipped default's, without explanations).
BUNDLE = "offline-default-scores"


def _half(key: str) -> str:
    return "fit" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 2 == 0 else "test"


def _by_sha(items: list, key) -> list:
    return sorted(items, key=lambda item: hashlib.sha256(key(item).encode()).hexdigest())


def text_rows(data: Path, limit: int | None) -> list[dict]:
    rows = []
    for split, half in (("val", "fit"), ("test", "test")):
        examples = [e for e in load_davidson(data / "davidson" / "labeled_data.csv") + load_toxigen(
            data / "toxigen" / "toxigen_sentences.csv") if e.split == split]
        for e in _by_sha(examples, lambda e: e.source + e.text)[:limit]:
            hateful = e.kind == "hate"
            rows.append({"half": half, "kind": f"text:{e.source}", "text": e.text, "image": None,
                         "labels": {"toxicity": int(e.kind in ("hate", "offensive")), "identity_attack": int(hateful)}})
    return rows


def image_rows() -> list[dict]:
    rows = []
    for suite in ("benign", "weapons", "knives"):
        for r in load_jsonl(image_suite_path(suite)):
            if r["split"] == "eval":
                rows.append({"half": _half(r["id"]), "kind": f"image:{suite}", "text": None, "image": r["image"],
                             "labels": {"weapons": r["labels"]["weapons"], "sexual": r["labels"]["sexual"]}})
    return rows


def pair_rows(limit: int | None) -> list[dict]:
    pairs = _by_sha(load_jsonl(PAIRS_SUITE), lambda r: r["id"])[:limit]
    texts = resolve_texts(pairs)
    weapons = {r["id"]: r["labels"]["weapons"] for s in ("benign", "weapons", "knives")
               for r in load_jsonl(image_suite_path(s))}
    rows = []
    for pair, text in zip(pairs, texts, strict=True):
        rows.append({"half": _half(pair["image_id"]), "kind": f"pair:{pair['kind']}", "text": text, "image": pair["image"],
                     "labels": {"weapons": weapons[pair["image_id"]],
                                "toxicity": int(pair["kind"] == "unsafe_text_benign_image")}})
    return rows


def featurise(rows: list[dict], moderator: Moderator, batch: int = 16) -> list[dict]:
    features = []
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        items = [{k: v for k, v in (("text", r["text"]), ("image", r["image"] and resolve_image(r["image"])))
                  if v is not None} for r in chunk]
        features += [features_of(result) for result in moderator.moderate_batch(items)]
        print(f"\r{min(start + batch, len(rows))}/{len(rows)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return features


def composed_rows(data: Path, *, text_limit: int | None = None, pair_limit: int | None = None) -> list[dict]:
    """The whole composed set, both halves, in a fixed order (the combiner's and the policies' data)."""
    return text_rows(data, text_limit) + image_rows() + pair_rows(pair_limit)


def cached_features(rows: list[dict], cache: Path | None) -> list[dict]:
    keys = [hashlib.sha256(json.dumps([r["kind"], r["text"], r["image"]]).encode()).hexdigest() for r in rows]
    if cache is not None and cache.exists():
        stored = json.loads(cache.read_text())
        if stored.get("keys") == keys:
            return stored["features"]
        print(f"{cache} is for other rows; recomputing", file=sys.stderr)
    features = featurise(rows, Moderator(bundle=BUNDLE))
    if cache is not None:
        cache.write_text(json.dumps({"keys": keys, "features": features}))
    return features


def _f1(y: np.ndarray, p: np.ndarray) -> float | None:
    return None if not len(y) else round(metrics.precision_recall_f1(y, p >= 0.5)[2], 4)


def evaluate(combiner: CalibratedCombiner, rows: list[dict], features: list[dict]) -> dict:
    out: dict = {}
    patterns = np.asarray([pattern_of(f) for f in features])
    for category in CATEGORIES:
        if category not in combiner.models_:
            continue
        labelled = np.asarray([category in r["labels"] for r in rows])
        y_all = np.asarray([r["labels"].get(category, -1) for r in rows])
        combined = combiner.predict_proba(features)[category]
        out[category] = {}
        for pattern in sorted(set(patterns.tolist())):
            mask = labelled & (patterns == pattern) & np.isfinite(combined)
            if mask.sum() < 10 or len(set(y_all[mask].tolist())) < 2:
                continue
            y = y_all[mask]
            rows_f = [features[i] for i in np.flatnonzero(mask)]
            single = {channel: np.asarray([f.get(f"{channel}:{category}", np.nan) for f in rows_f])
                      for channel in ("text", "image")}
            max_merge = np.nanmax(np.vstack([v for v in single.values()]), axis=0)
            entry = {"n": int(mask.sum()), "positives": int(y.sum()),
                     "combined": {"f1": _f1(y, combined[mask]), "ece": round(metrics.expected_calibration_error(
                         y, combined[mask], n_bins=10), 4), "auroc": round(metrics.auroc(y, combined[mask]), 4)},
                     "max_merge": {"f1": _f1(y, max_merge), "ece": round(metrics.expected_calibration_error(
                         y, np.nan_to_num(max_merge), n_bins=10), 4)}}
            for channel, scores in single.items():
                if np.isfinite(scores).all():
                    entry[f"{channel}_only"] = {"f1": _f1(y, scores)}
            out[category][pattern] = entry
        mask = labelled & np.isfinite(combined)
        if mask.sum() >= 10 and len(set(y_all[mask].tolist())) == 2:
            y, p = y_all[mask], combined[mask]
            merged = np.asarray([max((v for k, v in features[i].items() if k.endswith(f":{category}")), default=0.0)
                                 for i in np.flatnonzero(mask)])
            out[category]["all"] = {
                "n": int(mask.sum()), "positives": int(y.sum()),
                "combined": {"f1": _f1(y, p), "ece": round(metrics.expected_calibration_error(y, p, n_bins=10), 4),
                             "auroc": round(metrics.auroc(y, p), 4)},
                "max_merge": {"f1": _f1(y, merged),
                              "ece": round(metrics.expected_calibration_error(y, merged, n_bins=10), 4)}}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the calibrated combiner.")
    parser.add_argument("--out", type=Path, default=models_dir() / "combiner")
    parser.add_argument("--report", type=Path, default=Path("eval/combined/results/combiner.json"))
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--text-rows", type=int, default=None, help="at most this many text rows per half (default: all)")
    parser.add_argument("--pairs", type=int, default=None, help="at most this many pairs (default: all)")
    parser.add_argument("--features-cache", type=Path, default=None,
                        help="reuse (or write) the rows' channel outputs here: for iterating on the combiner"
                             " without re-running the models; never commit it (it holds no content, only scores)")
    args = parser.parse_args(argv)
    started = time.time()
    rows = composed_rows(args.data, text_limit=args.text_rows, pair_limit=args.pairs)
    features = cached_features(rows, args.features_cache)
    fit = [i for i, r in enumerate(rows) if r["half"] == "fit"]
    test = [i for i, r in enumerate(rows) if r["half"] == "test"]
    labels = {c: np.asarray([rows[i]["labels"].get(c, -1) for i in fit]) for c in CATEGORIES}
    combiner = CalibratedCombiner().fit([features[i] for i in fit], labels)
    result = {
        "version": VERSION, "command": "python -m safety.training.train_combiner",
        "rows": {half: {kind: sum(1 for r in rows if r["half"] == half and r["kind"] == kind)
                        for kind in sorted({r["kind"] for r in rows})} for half in ("fit", "test")},
        "skipped_sub_models": combiner.skipped_,
        "held_out": evaluate(combiner, [rows[i] for i in test], [features[i] for i in test]),
        "seconds": round(time.time() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_result(combiner.to_dict(), args.out / "combiner.json")
    write_result({k: v for k, v in result.items() if k != "held_out"}, args.out / "training.json")
    write_manifest(args.out, name="combiner", version=VERSION, files=["combiner.json", "training.json"])
    write_result(result, args.report)
    print(json.dumps(result["held_out"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
