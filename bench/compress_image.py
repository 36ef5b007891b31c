"""The image CNNs in torch vs ONNX Runtime: accuracy on the held-out image suites, and speed.

    flock /tmp/cpu.lock .venv/bin/python bench/compress_image.py [--calls 200] [--warmup 20] [--batch-size 32] [--out bench/results/compress_image.json]

Both sides are the registry's detectors with tiles on and Grad-CAM off: ``image-cnn-no-regions``
(torch; the same scores as ``image-cnn``) and ``image-cnn-ort-no-regions`` (the same weights exported to
ONNX and run by onnxruntime, :mod:`safety.detectors.image.onnx_runtime`). torch runs 2 intra-op
threads, onnxruntime as many; everything runs on the one inference thread (``safety.runtime``).

Accuracy, on the ``split == "eval"`` rows of ``eval/image/{benign,weapons,knives}`` (images
resolved by ``safety.evaluation.suites.resolve_image``), each runtime scoring the same decoded
images: ``weapons`` AUROC on basegun + benign and on the knives CCTV frames, the benign
false-positive rate of ``sexual`` and ``weapons`` at 0.5, the largest absolute difference of
each category's probability between the runtimes, and how many images change side of 0.5 or of
the default policy's ``weapons`` thresholds.

Speed, on scikit-learn's ``china.jpg`` resized to 640x480 (JPEG bytes, decoded once), warm-up
excluded: each CNN's forward pass alone (``outputs(features(x))`` on a preprocessed tensor) for
one view (``--calls`` calls) and at view batches of 1, 2, 4 and 8 (images/s); the whole
detector (``predict_batch``, preprocessing and tiles included: the weapons CNN also scores 6
tiles of a 640x480 photo) on one image (``--calls`` calls, p50) and on ``--batch-size`` images
(``max(3, calls // 40)`` calls, images/s). The shared view cache is cleared before every
detector call, so each call computes its views like a new image. Also the detector's load time
with an empty ONNX cache (export + check + write) and with a warm one.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import PIL
import torch
from PIL import Image
from sklearn.datasets import load_sample_image
from timing import arguments, summary, timed, write_report

from safety.detectors.image import onnx_runtime
from safety.detectors.image.cnn import ImageCNNDetector
from safety.detectors.image.shared import VIEW_CACHE
from safety.detectors.image.views import views_of
from safety.detectors.registry import Registry
from safety.evaluation import metrics
from safety.evaluation.suites import image_suite_path, load_jsonl, resolve_image
from safety.images import decode_image
from safety.limits import InputLimits
from safety.policy import get_policy
from safety.runtime import inference_executor
from safety.taxonomy import Category

THREADS = 2
SIZE = (640, 480)
SUITES = ("benign", "weapons", "knives")
SWEEP = (1, 2, 4, 8)
ROUND = 6
RUNTIMES = {"torch": "image-cnn-no-regions", "onnxruntime": "image-cnn-ort-no-regions"}


def _r(x: float) -> float:
    return round(float(x), ROUND)


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(load_sample_image("china.jpg")).resize(SIZE, Image.Resampling.BILINEAR).save(
        buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def eval_rows() -> list[dict]:
    return [{**row, "suite": suite} for suite in SUITES for row in load_jsonl(image_suite_path(suite))
            if row["split"] == "eval"]


def score(detector, images: list, batch: int = 8) -> tuple[np.ndarray, np.ndarray, float]:
    sexual, weapons = [], []
    started = time.perf_counter()
    for start in range(0, len(images), batch):
        for detection in detector.predict_batch(images[start:start + batch]):
            sexual.append(detection.scores[Category.SEXUAL])
            weapons.append(detection.scores[Category.WEAPONS])
    return np.asarray(sexual), np.asarray(weapons), (time.perf_counter() - started) / max(1, len(images))


def accuracy(rows: list[dict], sexual: np.ndarray, weapons: np.ndarray) -> dict:
    suite = np.asarray([r["suite"] for r in rows])
    y = np.asarray([r["labels"]["weapons"] for r in rows])
    benign, guns, knives = suite == "benign", suite == "weapons", suite == "knives"
    both = benign | guns

    def fpr(scores: np.ndarray) -> dict:
        flagged = scores[benign] >= 0.5
        return {"n": int(benign.sum()), "flagged": int(flagged.sum()), "rate": _r(flagged.mean())}

    return {"weapons_auroc_basegun_vs_benign": _r(metrics.auroc(y[both], weapons[both])),
            "weapons_auroc_knives": _r(metrics.auroc(y[knives], weapons[knives])),
            "benign_fpr_at_0.5": {"sexual": fpr(sexual), "weapons": fpr(weapons)}}


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "bench/results/compress_image.json")
    started = time.perf_counter()
    torch.set_num_threads(THREADS)
    run = inference_executor()
    on_thread = lambda fn: lambda i: run.submit(fn, i).result()  # noqa: E731
    report: dict = {"benchmark": "compress_image", "photo": f"china.jpg at {SIZE[0]}x{SIZE[1]}",
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}

    # -- loading: the ONNX export on an empty cache, then from the cache -----------------------------
    def load_times() -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            previous = os.environ.get("SAFETY_CACHE_DIR")
            os.environ["SAFETY_CACHE_DIR"] = tmp
            try:
                out = {}
                for name in ("empty_cache", "warm_cache"):
                    t0 = time.perf_counter()
                    detector = ImageCNNDetector.load(runtime="onnxruntime", explain=False)
                    out[name] = round(time.perf_counter() - t0, 2)
                out["graph_mb"] = {s.artifact.name: round(onnx_runtime.graph_paths(s.scorer)[0].stat().st_size / 1e6, 1)
                                   for s in detector.scorers}
            finally:
                if previous is None:
                    os.environ.pop("SAFETY_CACHE_DIR", None)
                else:
                    os.environ["SAFETY_CACHE_DIR"] = previous
        t0 = time.perf_counter()
        ImageCNNDetector.load(explain=False)
        out["torch"] = round(time.perf_counter() - t0, 2)
        return out

    report["load_seconds"] = run.submit(load_times).result()
    registry = Registry.default()
    detectors = {rt: run.submit(registry.detector, name).result() for rt, name in RUNTIMES.items()}
    report["detectors"] = {rt: {"registry_name": RUNTIMES[rt], "id": d.info.id, "version": d.info.version,
                                "sha256": d.info.sha256, "view_batch_size": d.batch_size, "explain": d.explain}
                           for rt, d in detectors.items()}
    report["torch_threads_inference"] = run.submit(torch.get_num_threads).result()
    ort_scorers = detectors["onnxruntime"].scorers
    report["onnxruntime_session"] = {
        "intra_op_num_threads": int(ort_scorers[0].session.get_session_options().intra_op_num_threads),
        "allow_spinning": ort_scorers[0].session.get_session_options().get_session_config_entry(
            "session.intra_op.allow_spinning"),
        "providers": ort_scorers[0].session.get_providers(),
        "check_batch_max_abs_difference": {s.artifact.name: run.submit(onnx_runtime.max_difference, s.scorer,
                                                                       s.session).result() for s in ort_scorers},
    }

    # -- accuracy on the held-out image suites -------------------------------------------------------
    rows = eval_rows()
    images = [decode_image(resolve_image(r["image"]), limits=InputLimits()) for r in rows]
    policy = get_policy("default")
    weapons_thresholds = policy.thresholds(Category.WEAPONS)
    scores = {}
    for rt, detector in detectors.items():
        sexual, weapons, seconds = run.submit(score, detector, images).result()
        scores[rt] = (sexual, weapons)
        report.setdefault("accuracy", {})[rt] = {**accuracy(rows, sexual, weapons), "seconds_per_image": _r(seconds)}
    (ts, tw), (os_, ow) = scores["torch"], scores["onnxruntime"]

    def flips(a: np.ndarray, b: np.ndarray, threshold: float) -> int:
        return int(((a >= threshold) != (b >= threshold)).sum())

    report["accuracy"]["eval_images"] = {s: sum(r["suite"] == s for r in rows) for s in SUITES}
    report["accuracy"]["difference"] = {
        "max_abs_probability": {"sexual": float(np.abs(ts - os_).max()), "weapons": float(np.abs(tw - ow).max())},
        "images_changing_side": {"sexual_at_0.5": flips(ts, os_, 0.5), "weapons_at_0.5": flips(tw, ow, 0.5),
                                 f"weapons_at_default_review_{weapons_thresholds.review}":
                                     flips(tw, ow, weapons_thresholds.review),
                                 f"weapons_at_default_block_{weapons_thresholds.block}":
                                     flips(tw, ow, weapons_thresholds.block)},
    }

    # -- speed ---------------------------------------------------------------------------------------
    VIEW_CACHE.clear()
    decoded = decode_image(photo())
    crop = decoded.first
    batch_calls = max(3, args.calls // 40)
    torch_scorers = {s.artifact.name: s for s in detectors["torch"].scorers}
    report["speed"] = {"calls": {"single": args.calls, "warmup": args.warmup, "batched": batch_calls,
                                 "batched_warmup": 1, "sweep": max(5, args.calls // 20)},
                       "views_per_image": {s.artifact.name: len(views_of(decoded.frames, s.grid))
                                           for s in detectors["torch"].scorers}}

    def torch_forward(scorer, x):
        with torch.inference_mode():
            return scorer.outputs(scorer.features(x))

    def ort_forward(scorer, x):
        return scorer.outputs(scorer.features(x))

    forward = {}
    for ort_scorer in ort_scorers:
        name = ort_scorer.artifact.name
        rows_out: dict = {}
        for rt, scorer, fn in (("torch", torch_scorers[name], torch_forward), ("onnxruntime", ort_scorer, ort_forward)):
            x1 = scorer.preprocess([crop])
            rows_out[rt] = {"forward_single": summary(timed(on_thread(lambda i, fn=fn, s=scorer, x=x1: fn(s, x)),
                                                            args.calls, args.warmup)),
                            "forward_sweep": {}}
            for size in SWEEP:
                xs = scorer.preprocess([crop] * size)
                result = summary(timed(on_thread(lambda i, fn=fn, s=scorer, x=xs: fn(s, x)),
                                       report["speed"]["calls"]["sweep"], 2), size)
                rows_out[rt]["forward_sweep"][str(size)] = {"p50_ms": result["p50_ms"],
                                                            "images_per_s": result["items_per_s"]}
        rows_out["speedup_forward_single_p50"] = round(rows_out["torch"]["forward_single"]["p50_ms"]
                                                       / rows_out["onnxruntime"]["forward_single"]["p50_ms"], 2)
        forward[name] = rows_out
    report["speed"]["forward"] = forward

    def fresh(detector, batch: list):
        VIEW_CACHE.clear()  # every call computes its views, like a new image
        return detector.predict_batch(batch)

    whole: dict = {}
    for rt, detector in detectors.items():
        whole[rt] = {
            "single": summary(timed(on_thread(lambda i, d=detector: fresh(d, [decoded])), args.calls, args.warmup)),
            "batched": summary(timed(on_thread(lambda i, d=detector: fresh(d, [decoded] * args.batch_size)),
                                     batch_calls, 1), args.batch_size),
        }
    whole["speedup_single_p50"] = round(whole["torch"]["single"]["p50_ms"] / whole["onnxruntime"]["single"]["p50_ms"], 2)
    whole["speedup_batched_images_per_s"] = round(whole["onnxruntime"]["batched"]["items_per_s"]
                                                  / whole["torch"]["batched"]["items_per_s"], 2)
    report["speed"]["detector"] = whole

    report["versions_extra"] = {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__,
                                "pillow": PIL.__version__, "numpy": np.__version__}
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["wall_s"] = round(time.perf_counter() - started, 1)
    report["note"] = ("p50 latencies in ms; items_per_s = images/s (views/s in forward_sweep). Accuracy rows: tiles on, "
                      "no regions, default view batch; 'difference' compares the two runtimes image by image. "
                      "The machine is shared: the load averages say how busy it was (other processes slow torch's "
                      "OpenMP threads more than onnxruntime's).")
    return write_report(report, Path(args.out))


if __name__ == "__main__":
    raise SystemExit(main())
