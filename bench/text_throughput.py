"""Text detector speed: single calls and batches, ours beside a plain ``transformers`` pipeline.

    .venv/bin/python bench/text_throughput.py [--calls 200] [--batch-size 32] [--out bench/results/text_throughput.json]

Ours is measured with and without explanation spans (occlusion costs one extra encoder row per
word of each flagged text). Baseline: ``transformers.pipeline("feature-extraction")`` over the same encoder weights (the
package's MiniLM with our tuned top layers) followed by the same pooling and heads, without our
normalisation variants, windows, calibration or batching by length. All work runs on the one
inference thread (``safety.runtime``), warm-up excluded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from timing import SAMPLE_TEXTS, arguments, summary, timed, write_report

from safety.detectors.registry import Registry
from safety.runtime import inference_executor

TEXTS = SAMPLE_TEXTS


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "bench/results/text_throughput.json")
    from transformers import pipeline

    detector = inference_executor().submit(Registry.default().detector, "minilm-toxicity").result()
    extractor = pipeline("feature-extraction", model=detector.encoder.model, tokenizer=detector.encoder.tokenizer,
                         framework="pt", device="cpu")

    def baseline(texts: list[str]) -> np.ndarray:
        outputs = extractor(texts, batch_size=len(texts), truncation=True, max_length=128, return_tensors=True)
        pooled = torch.stack([torch.cat([o[0].mean(0), o[0].max(0).values]) for o in outputs])
        with torch.inference_mode():
            return torch.sigmoid(detector.heads(pooled)).numpy()

    batch = [TEXTS[i % len(TEXTS)] for i in range(args.batch_size)]
    rounds = max(10, args.calls // 10)
    run = inference_executor()
    on_inference_thread = lambda fn: lambda i: run.submit(fn, i).result()  # noqa: E731

    def without_spans(texts: list[str]):
        saved, detector.explain_threshold = detector.explain_threshold, float("inf")
        try:
            return detector.predict_batch(texts)
        finally:
            detector.explain_threshold = saved

    one = lambda i: [TEXTS[i % len(TEXTS)]]  # noqa: E731
    results = {
        "ours_single": summary(timed(on_inference_thread(lambda i: detector.predict_batch(one(i))), args.calls, args.warmup)),
        "ours_single_no_spans": summary(timed(on_inference_thread(lambda i: without_spans(one(i))), args.calls, args.warmup)),
        "baseline_single": summary(timed(on_inference_thread(lambda i: baseline(one(i))), args.calls, args.warmup)),
        "ours_batched": summary(timed(on_inference_thread(lambda i: detector.predict_batch(batch)), rounds, 3),
                                args.batch_size),
        "ours_batched_no_spans": summary(timed(on_inference_thread(lambda i: without_spans(batch)), rounds, 3),
                                         args.batch_size),
        "baseline_batched": summary(timed(on_inference_thread(lambda i: baseline(batch)), rounds, 3), args.batch_size),
    }
    report = {
        "benchmark": "text_throughput",
        "detector": {"id": detector.info.id, "version": detector.info.version, "sha256": detector.info.sha256},
        **results,
        "ratio_single_p50_ours_over_baseline": round(results["ours_single"]["p50_ms"] / results["baseline_single"]["p50_ms"], 3),
        "ratio_batched_throughput_ours_over_baseline": round(
            results["ours_batched"]["items_per_s"] / results["baseline_batched"]["items_per_s"], 3),
        "ratio_batched_throughput_ours_no_spans_over_baseline": round(
            results["ours_batched_no_spans"]["items_per_s"] / results["baseline_batched"]["items_per_s"], 3),
        "note": "ours = raw + normalised forms, windows, calibration; with spans, flagged texts also get one "
                "occlusion pass per word (explanations). 4 of the 8 benchmark texts are flagged.",
    }
    return write_report(report, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
