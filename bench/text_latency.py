"""Single-call and batched text moderation latency on the default offline models.

    .venv/bin/python bench/text_latency.py [--calls 200] [--warmup 20] [--out bench/results/text_latency.json]

Warm-up calls are excluded. Reports p50/p95/p99 of ``moderate(text=...)`` (the full pipeline:
validation, detector, policy, result) and of the bare detector, plus batched throughput, with
thread count, versions and hardware, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import safety
from safety import Moderator
from safety.detectors.registry import Registry
from safety.runtime import inference_executor

TEXTS = [
    "have a lovely day",
    "you are a stupid idiot",
    "Thanks for fixing the references in this article, it reads much better now.",
    "I will find you and hurt you",
    "The meeting moved to Thursday at 3pm, bring the quarterly numbers please.",
    "what a load of rubbish, whoever wrote this has no clue",
]


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": round(statistics.median(ordered), 3), "p95_ms": round(pick(0.95), 3),
            "p99_ms": round(pick(0.99), 3), "mean_ms": round(statistics.fmean(ordered), 3), "n": len(ordered)}


def timed(fn, calls: int, warmup: int) -> list[float]:
    for i in range(warmup):
        fn(i)
    samples = []
    for i in range(calls):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1000.0)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("bench/results/text_latency.json"))
    args = parser.parse_args()

    moderator = Moderator()
    inference = inference_executor()  # where the pipeline runs models (see safety.runtime)
    detector = inference.submit(Registry.default().detector, moderator.bundle.detectors[safety.Channel.TEXT]).result()

    pipeline = timed(lambda i: moderator.moderate(text=TEXTS[i % len(TEXTS)]), args.calls, args.warmup)
    bare = timed(lambda i: inference.submit(detector.predict_batch, [TEXTS[i % len(TEXTS)]]).result(),
                 args.calls, args.warmup)
    batch = [{"text": TEXTS[i % len(TEXTS)]} for i in range(args.batch_size)]
    rounds = max(5, args.calls // args.batch_size)
    batched = timed(lambda i: moderator.moderate_batch(batch), rounds, 2)

    report = {
        "benchmark": "text_latency",
        "pipeline_single": percentiles(pipeline),
        "detector_single": percentiles(bare),
        "pipeline_batched": {**percentiles(batched), "batch_size": args.batch_size,
                             "texts_per_s": round(args.batch_size * 1000.0 / statistics.median(batched), 1)},
        "pipeline_single_texts_per_s": round(1000.0 / statistics.median(pipeline), 1),
        "model_bundle": moderator.bundle_ref.model_dump(),
        "torch_threads": torch.get_num_threads(),
        "versions": {"safety": safety.__version__, "torch": torch.__version__, "python": platform.python_version()},
        "hardware": {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                     "cpus": os.cpu_count()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
