"""Cross-modal check speed: what it adds to a text+image request, single pairs and batches.

    .venv/bin/python bench/crossmodal_latency.py [--calls 200] [--warmup 20] [--batch-size 16] [--out bench/results/crossmodal_latency.json]

Measured, warm-up excluded, on the one inference thread (``safety.runtime``): the registry's
``conse-cross-modal`` detector (``predict_batch``) on one pair and on ``--batch-size`` pairs,
and its two halves: the image side (EfficientNet-Lite0 over the whole frame and its tiles,
open_nsfw, the class-embedding mix) and the text side (all-MiniLM-L6-v2). Inputs: scikit-learn's
``china.jpg`` at 640x480 (so the weapons CNN also scores 6 tiles) with a short caption. Beside
them, the whole pipeline ``moderate(text, image)`` with the default bundle (JPEG bytes in, so
decoding counts), so the cross-modal share of a request is visible. Batched rows run ``max(3, calls // 10)`` measured calls.
"""

from __future__ import annotations

import io

from PIL import Image
from sklearn.datasets import load_sample_image
from timing import arguments, summary, timed, write_report

from safety.detectors.registry import Registry
from safety.images import decode_image
from safety.pipeline import Moderator
from safety.runtime import inference_executor

CAPTION = "a temple among trees on a sunny day"


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "bench/results/crossmodal_latency.json")
    run = inference_executor()
    detector = run.submit(Registry.default().detector, "conse-cross-modal").result()
    buffer = io.BytesIO()
    Image.fromarray(load_sample_image("china.jpg")).resize((640, 480)).save(buffer, format="JPEG", quality=90)
    encoded = buffer.getvalue()
    image = decode_image(encoded)
    batch_calls = max(3, args.calls // 10)

    def on_thread(fn):
        return lambda i: run.submit(fn).result()

    def single(fn) -> dict:
        return summary(timed(on_thread(fn), args.calls, args.warmup))

    def batched(fn) -> dict:
        return summary(timed(on_thread(fn), batch_calls, min(args.warmup, 2)), args.batch_size)

    pairs = [(CAPTION, image)] * args.batch_size
    embedder = detector.embedder
    moderator = Moderator()
    moderator.warm_up()
    report = {
        "benchmark": "crossmodal_latency",
        "detector": {"id": detector.info.id, "version": detector.info.version, "sha256": detector.info.sha256},
        "image_size": [image.width, image.height],
        "batch_size": args.batch_size,
        "cross_modal": {"single": single(lambda: detector.predict_batch(pairs[:1])),
                        "batched": batched(lambda: detector.predict_batch(pairs))},
        "image_side": {"single": single(lambda: embedder.embed_images([image])),
                       "batched": batched(lambda: embedder.embed_images([image] * args.batch_size))},
        "text_side": {"single": single(lambda: embedder.embed_texts([CAPTION])),
                      "batched": batched(lambda: embedder.embed_texts([CAPTION] * args.batch_size))},
        "pipeline_text_and_image": {
            "single": summary(timed(lambda i: moderator.moderate(text=CAPTION, image=encoded), args.calls, args.warmup)),
            "batched": summary(timed(lambda i: moderator.moderate_batch([{"text": CAPTION, "image": encoded}] * args.batch_size),
                                     batch_calls, min(args.warmup, 2)), args.batch_size),
        },
        "note": "cross_modal = what the check adds per pair (it recomputes its own CNN passes; sharing them with "
                "the image channel is issue 7's caching). items_per_s = pairs per second.",
    }
    return write_report(report, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
