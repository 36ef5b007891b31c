"""The serving benchmark: text, image and text+image, single and batched, in-process and over HTTP,
each beside a baseline as a ratio.

    [SAFETY_BUNDLE=offline-torch] .venv/bin/python bench/serving.py [--calls 200] [--warmup 20]
                                      [--batch-size 16] [--out bench/results/serving.json]

Warm-up calls are excluded; single rows are ``--calls`` measured calls, batched rows
``max(5, calls // 10)`` calls of ``--batch-size`` items. The result cache is off and the shared
view cache is cleared before every call (and every HTTP request carries a different image), so
no figure is a cache hit: only the sharing *within* a call counts. Inputs: short texts from
``timing.SAMPLE_TEXTS``; scikit-learn's ``china.jpg`` at 640x480 JPEG (so the weapons CNN also
scores its 6 tiles).

Baselines (same machine, same run, same threads):

* text: a plain ``transformers`` forward of the same all-MiniLM-L6-v2 weights (tokenizer +
  ``AutoModel`` + mean pooling; no heads, no de-obfuscation variants, no policy);
* image: the two CNNs' bare forwards on the whole frame (no tiles, no policy, no decoding);
* text+image: the same pipeline with the CNN passes *not* shared between the image channel and
  the cross-modal check (view cache off);
* batched: the same calls one item at a time (items/s ratio);
* HTTP: the in-process pipeline on the same input (the ratio is the price of the server).
"""

from __future__ import annotations

import base64
import io
import os
import sys
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_sample_image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_test import Server  # noqa: E402
from timing import SAMPLE_TEXTS, arguments, summary, timed, write_report  # noqa: E402

import safety  # noqa: E402
from safety.detectors.image.shared import VIEW_CACHE  # noqa: E402
from safety.detectors.registry import Registry  # noqa: E402
from safety.detectors.text.encoder import load_minilm  # noqa: E402
from safety.images import decode_image  # noqa: E402
from safety.pipeline import Moderator  # noqa: E402
from safety.runtime import inference_executor  # noqa: E402


def photo(variant: int = 0) -> bytes:
    """The 640x480 test photo as JPEG; ``variant`` is written in binary as a strip of 16 black or
    white 8x8 squares in the top-left corner (another sha256, the same scene; single pixels can
    vanish in JPEG's quantisation, whole blocks do not)."""
    array = np.array(Image.fromarray(load_sample_image("china.jpg")).resize((640, 480)))
    for bit in range(16):
        array[:8, 8 * bit:8 * bit + 8] = 255 * ((variant >> bit) & 1)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def ratio(ours: dict, base: dict, key: str = "p50_ms") -> float:
    return round(ours[key] / base[key], 2)


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "bench/results/serving.json")
    texts = SAMPLE_TEXTS
    moderator = Moderator(bundle=os.environ.get("SAFETY_BUNDLE", "offline-default"), cache_size=0)
    moderator.warm_up()
    run = inference_executor()
    batch_calls = max(5, args.calls // 10)
    jpeg = photo()
    images = [photo(i) for i in range(64)]

    def fresh(fn):
        def call(i):
            VIEW_CACHE.clear()
            return fn(i)
        return call

    # -- baselines ---------------------------------------------------------------------------
    model_dir, tokenizer, model = run.submit(load_minilm).result()

    def plain_transformers(batch: list[str]):
        tokens = tokenizer(batch, padding=True, truncation=True, max_length=256, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**tokens).last_hidden_state
        mask = tokens["attention_mask"][..., None]
        return (hidden * mask).sum(1) / mask.sum(1)

    image_detector = run.submit(Registry.default().detector, moderator.bundle.detectors[safety.Channel.IMAGE]).result()
    decoded = decode_image(jpeg)

    def bare_cnns():
        frame = decoded.frames[0]
        with torch.inference_mode():
            for scorer in image_detector.scorers:
                scorer.outputs(scorer.features(scorer.preprocess([frame])))

    report: dict = {"benchmark": "serving", "model_bundle": moderator.bundle_ref.model_dump(),
                    "safety": safety.__version__, "in_process": {}, "http": {}}
    p = report["in_process"]

    # -- text ----------------------------------------------------------------------------------
    p["text_single"] = summary(timed(lambda i: moderator.moderate(text=texts[i % len(texts)]), args.calls, args.warmup))
    p["text_single_baseline_plain_transformers"] = summary(timed(
        lambda i: run.submit(plain_transformers, [texts[i % len(texts)]]).result(), args.calls, args.warmup))
    p["text_single_ratio_to_baseline"] = ratio(p["text_single"], p["text_single_baseline_plain_transformers"])
    text_batch = [{"text": f"{texts[i % len(texts)]} ({i})"} for i in range(args.batch_size)]
    p["text_batched"] = summary(timed(lambda i: moderator.moderate_batch(text_batch), batch_calls, 2), args.batch_size)
    p["text_batched_baseline_plain_transformers"] = summary(timed(
        lambda i: run.submit(plain_transformers, [b["text"] for b in text_batch]).result(), batch_calls, 2),
        args.batch_size)
    p["text_batched_over_single_items_per_s"] = round(p["text_batched"]["items_per_s"] / p["text_single"]["items_per_s"], 2)

    # -- image ---------------------------------------------------------------------------------
    p["image_single"] = summary(timed(fresh(lambda i: moderator.moderate(image=images[i % len(images)])),
                                      args.calls, args.warmup))
    p["image_single_baseline_bare_cnn_forwards_whole_frame"] = summary(timed(
        lambda i: run.submit(bare_cnns).result(), args.calls, args.warmup))
    p["image_single_ratio_to_baseline"] = ratio(p["image_single"], p["image_single_baseline_bare_cnn_forwards_whole_frame"])
    image_batch = [{"image": images[i % len(images)]} for i in range(args.batch_size)]
    p["image_batched"] = summary(timed(fresh(lambda i: moderator.moderate_batch(image_batch)), batch_calls, 2),
                                 args.batch_size)
    p["image_batched_over_single_items_per_s"] = round(p["image_batched"]["items_per_s"] / p["image_single"]["items_per_s"], 2)

    # -- text + image --------------------------------------------------------------------------
    def pair(i):
        return moderator.moderate(text=texts[i % len(texts)], image=images[i % len(images)])

    p["text_image_single"] = summary(timed(fresh(pair), args.calls, args.warmup))
    VIEW_CACHE.max_entries, shared_size = 0, VIEW_CACHE.max_entries
    p["text_image_single_baseline_unshared_cnn_passes"] = summary(timed(fresh(pair), args.calls, args.warmup))
    VIEW_CACHE.max_entries = shared_size
    p["text_image_single_ratio_to_baseline"] = ratio(p["text_image_single"],
                                                     p["text_image_single_baseline_unshared_cnn_passes"])
    pair_batch = [{"text": texts[i % len(texts)], "image": images[i % len(images)]} for i in range(args.batch_size)]
    p["text_image_batched"] = summary(timed(fresh(lambda i: moderator.moderate_batch(pair_batch)), batch_calls, 2),
                                      args.batch_size)
    p["text_image_batched_over_single_items_per_s"] = round(
        p["text_image_batched"]["items_per_s"] / p["text_image_single"]["items_per_s"], 2)

    # -- over HTTP (one client, sequential; the server's caches cannot hit: distinct inputs) ---
    server = Server(batch_max_size=32, threads=torch.get_num_threads())
    try:
        report["http"]["cold_start_s"] = round(server.wait_ready(), 2)
        with httpx.Client(timeout=60) as http:
            def post(body):
                response = http.post(f"{server.url}/v1/moderate", json=body)
                response.raise_for_status()

            n = args.calls + args.warmup  # every request its own image: the server's view cache cannot hit
            b64 = [base64.b64encode(photo(1000 + i)).decode() for i in range(2 * n)]
            h = report["http"]
            h["text_single"] = summary(timed(lambda i: post({"text": f"{texts[i % len(texts)]} #{i}"}),
                                             args.calls, args.warmup))
            h["text_single_ratio_to_in_process"] = ratio(h["text_single"], p["text_single"])
            h["image_single"] = summary(timed(lambda i: post({"image": b64[i]}), args.calls, args.warmup))
            h["image_single_ratio_to_in_process"] = ratio(h["image_single"], p["image_single"])
            h["text_image_single"] = summary(timed(lambda i: post({"text": texts[i % len(texts)], "image": b64[n + i]}),
                                                   args.calls, args.warmup))
            h["text_image_single_ratio_to_in_process"] = ratio(h["text_image_single"], p["text_image_single"])
    finally:
        server.stop()
    report["note"] = ("Concurrency over HTTP (batched vs unbatched server at 1/8/32 clients) is "
                      "bench/load_test.py -> bench/results/load_test.json.")
    return write_report(report, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
