"""Shared timing helpers of the benchmark scripts: warm-up excluded, percentiles, environment."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def arguments(description: str, default_out: str) -> argparse.Namespace:
    """The options every benchmark takes: calls, warm-up, batch size, output file."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--calls", type=int, default=200, help="measured calls (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path(default_out), help="JSON result file")
    return parser.parse_args()


#: Inputs of the text benchmarks: half benign, half abusive (so explanations are exercised).
SAMPLE_TEXTS: tuple[str, ...] = (
    "have a lovely day", "you are a stupid idiot", "I will find you and hurt you",
    "Thanks for fixing the references in this article, it reads much better now.",
    "The meeting moved to Thursday at 3pm, bring the quarterly numbers please.",
    "Muslims in my town organised a food drive for the holidays.",
    "what a load of rubbish, whoever wrote this has no clue",
    "Refugees are welcome here and we will help them settle in.",
)


def timed(fn: Callable[[int], object], calls: int, warmup: int) -> list[float]:
    """Milliseconds of each of ``calls`` calls of ``fn(i)``, after ``warmup`` untimed calls."""
    for i in range(warmup):
        fn(i)
    samples = []
    for i in range(calls):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1000.0)
    return samples


def summary(samples_ms: list[float], items_per_call: int = 1) -> dict:
    ordered = sorted(samples_ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    median = statistics.median(ordered)
    return {"p50_ms": round(median, 3), "p95_ms": round(pick(0.95), 3), "p99_ms": round(pick(0.99), 3),
            "mean_ms": round(statistics.fmean(ordered), 3), "calls": len(ordered), "items_per_call": items_per_call,
            "items_per_s": round(items_per_call * 1000.0 / median, 1)}


def environment() -> dict:
    import torch

    return {
        "torch_threads": torch.get_num_threads(),
        "versions": {"torch": torch.__version__, "transformers": _version("transformers"),
                     "python": platform.python_version()},
        "hardware": {"machine": platform.machine(), "cpus": os.cpu_count()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def write_report(report: dict, out: Path) -> int:
    """Write the JSON result (with this machine's environment) and print it; return exit status 0."""
    report = {**report, **environment()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0
