"""Single-call and batched text moderation latency on the default offline models.

    .venv/bin/python bench/text_latency.py [--calls 200] [--warmup 20] [--out bench/results/text_latency.json]

Warm-up calls are excluded. Reports p50/p95/p99 of ``moderate(text=...)`` (the full pipeline:
validation, detector, policy, result) and of the bare detector, plus batched throughput, with
thread count, versions and hardware, as JSON.
"""

from __future__ import annotations

from pathlib import Path

from timing import SAMPLE_TEXTS, arguments, summary, timed, write_report

import safety
from safety import Moderator, Settings
from safety.detectors.registry import Registry
from safety.runtime import inference_executor

TEXTS = SAMPLE_TEXTS


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "bench/results/text_latency.json")

    moderator = Moderator.from_settings(Settings())  # SAFETY_BUNDLE etc. apply
    inference = inference_executor()  # where the pipeline runs models (see safety.runtime)
    detector = inference.submit(Registry.default().detector, moderator.bundle.detectors[safety.Channel.TEXT]).result()
    batch = [{"text": TEXTS[i % len(TEXTS)]} for i in range(args.batch_size)]
    report = {
        "benchmark": "text_latency",
        "pipeline_single": summary(timed(lambda i: moderator.moderate(text=TEXTS[i % len(TEXTS)]), args.calls, args.warmup)),
        "detector_single": summary(timed(lambda i: inference.submit(detector.predict_batch, [TEXTS[i % len(TEXTS)]]).result(),
                                         args.calls, args.warmup)),
        "pipeline_batched": summary(timed(lambda i: moderator.moderate_batch(batch), max(5, args.calls // args.batch_size), 2),
                                    args.batch_size),
        "model_bundle": moderator.bundle_ref.model_dump(),
        "safety": safety.__version__,
    }
    return write_report(report, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
