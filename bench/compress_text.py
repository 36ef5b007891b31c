"""The compressed text paths against the fp32 torch MiniLM detector: accuracy and speed, in one run.

    flock /tmp/cpu.lock .venv/bin/python bench/compress_text.py [--calls 200] [--warmup 20] [--batch-size 32]
                                                                [--out bench/results/compress_text.json]

Run it under the CPU lock (``flock``) so that no other timing run overlaps it on the 2-core
machine; the whole run takes about 75 s on a quiet machine. Every variant loads the same artifact
(``models/minilm_toxicity``); heads and calibration are unchanged:

* ``fp32``: ``MiniLMToxicityDetector.load()``, torch float32 (the baseline);
* ``ort_fp32``: ``load(runtime="onnxruntime")``, the same weights in ONNX Runtime (the default
  bundle's text detector);
* ``int8``: ``load(runtime="onnxruntime", quantize="int8")``, onnxruntime's dynamic quantizer on
  the exported graph (the shipped compressed path, ``minilm-toxicity-int8``);
* ``torch_int8``: ``load(quantize="int8")``, torch's dynamic quantization of every ``nn.Linear``.

Both int8 variants keep int8 weights per output channel and quantize activations per call.

Accuracy (scores as in production: raw and normalised forms, windows, calibration; no spans):

* held-out test split of the text model (``safety.training.text_data.split_of(...) == "test"``):
  every test row of Davidson (toxicity = hate or offensive, identity_attack = hate) and of ToxiGen
  (hate -> toxicity and identity_attack), per source and pooled, AUROC per category with the int8
  minus fp32 difference in AUROC points and its paired bootstrap 95% interval (1000 resamples,
  seed 0); score agreement (largest and mean absolute probability difference, share of texts
  whose flag at the default policy's review thresholds is unchanged). ``int8`` is scored twice: in
  batches of 256 like the others, and one text per call (as ``moderate(text=...)`` calls it),
  because its activation scales are computed per call, over the whole batch;
* functional suite (``eval/text/functional/suite.jsonl``): AUROC per labelled category over all
  its rows, and the per-functionality accuracy of ``safety.evaluation.text_report`` (at the default
  policy's review thresholds, recorded in the result).

Speed, with ``torch.set_num_threads(2)`` on the one inference thread (``safety.runtime``), warm-up
excluded: single-text ``predict_batch([text])`` latency p50/p95 over ``--calls`` calls, and
batches of ``--batch-size`` texts (texts/s), each with explanation spans and without. The
variants are timed in alternating blocks, so a load change on the machine hits all alike; each timing block records how many cores other
processes kept busy meanwhile (``other_processes_cores_busy``: near 0 on a quiet machine). All
torch work runs on the inference thread: torch used from a second thread starts a second OpenMP
team, which doubled single-call latency in a trial.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from timing import SAMPLE_TEXTS, arguments, summary, timed, write_report

import safety
from safety.artifacts import load_artifact
from safety.detectors.text.minilm import MiniLMToxicityDetector
from safety.evaluation import metrics
from safety.evaluation.suites import load_suite
from safety.evaluation.text_report import Scorer, functional_report
from safety.runtime import inference_executor
from safety.taxonomy import Category
from safety.training.text_data import default_data_dir, load_davidson, load_toxigen

THREADS = 2
BLOCKS = 10  # alternating timing blocks
CATEGORIES = (Category.TOXICITY, Category.IDENTITY_ATTACK)
#: name -> MiniLMToxicityDetector.load options; "fp32" is the baseline every other is compared with.
VARIANTS = {"fp32": {}, "ort_fp32": {"runtime": "onnxruntime"},
            "int8": {"runtime": "onnxruntime", "quantize": "int8"}, "torch_int8": {"quantize": "int8"}}


def _r(x: float, digits: int = 4) -> float | None:
    return None if not np.isfinite(x) else round(float(x), digits)


def points(delta: float) -> float | None:
    """An AUROC difference in points (hundredths)."""
    return _r(100.0 * delta, 2)


def all_scores(scorers: dict[str, Scorer], texts: list[str]) -> dict[str, np.ndarray]:
    """Every variant's scores in batches of 256 (as ``text_report`` scores), and int8's one text per
    call: int8 activations are quantized with one scale per call, so its scores depend slightly on
    what else is in the batch (fp32 batch and single scores agree to 1e-5, tests/detectors/test_minilm.py)."""
    return {**{name: scorer.scores(texts) for name, scorer in scorers.items()},
            "int8_single_calls": scorers["int8"].scores(texts, batch=1)}


def compare_auroc(y: np.ndarray, scores: dict[str, np.ndarray]) -> dict:
    """AUROC of each score set; for each compressed one, the difference from fp32 in points with
    its paired bootstrap 95% interval."""
    reference = metrics.auroc(y, scores["fp32"])
    out: dict = {"n": int(len(y)), "positives": int(np.sum(y)), "fp32": _r(reference)}
    for name, s in scores.items():
        if name == "fp32":
            continue
        low, high = metrics.bootstrap_ci(lambda t, a, b: metrics.auroc(t, b) - metrics.auroc(t, a), y, scores["fp32"], s)
        value = metrics.auroc(y, s)
        out[name] = {"auroc": _r(value), "delta_points": points(value - reference),
                     "delta_points_ci95": [points(low), points(high)]}
    return out


def agreement(scorer: Scorer, scores: dict[str, np.ndarray]) -> dict:
    out = {}
    for name, s in scores.items():
        if name == "fp32":
            continue
        difference = np.abs(s - scores["fp32"])
        out[name] = {
            "max_abs_probability_difference": _r(difference.max()),
            "mean_abs_probability_difference": _r(difference.mean(), 5),
            "max_abs_by_category": {c.value: _r(difference[:, j].max()) for j, c in enumerate(scorer.labels)},
            "same_flag_at_default_review_thresholds": _r(np.mean(scorer.flagged(scores["fp32"]) == scorer.flagged(s))),
        }
    batch_effect = np.abs(scores["int8_single_calls"] - scores["int8"])
    out["int8_single_calls_vs_int8_batched"] = {"max_abs_probability_difference": _r(batch_effect.max()),
                                                "mean_abs_probability_difference": _r(batch_effect.mean(), 5)}
    return out


def held_out_accuracy(scorers: dict[str, Scorer], data: Path) -> dict:
    davidson = [e for e in load_davidson(data / "davidson" / "labeled_data.csv") if e.split == "test"]
    toxigen = [e for e in load_toxigen(data / "toxigen" / "toxigen_sentences.csv") if e.split == "test"]
    scores = all_scores(scorers, [e.text for e in davidson + toxigen])
    nd = len(davidson)
    truth = {  # per category: labels over davidson + toxigen rows, as in text_report's calibration block
        Category.TOXICITY: np.array([e.kind != "neither" for e in davidson] + [e.kind == "hate" for e in toxigen]),
        Category.IDENTITY_ATTACK: np.array([e.kind == "hate" for e in davidson + toxigen]),
    }
    parts = {"davidson_test": slice(0, nd), "toxigen_test": slice(nd, None), "pooled_test": slice(None)}
    fp32 = scorers["fp32"]
    report: dict = {
        "rows": {"davidson_test": nd, "toxigen_test": len(toxigen),
                 "selection": "all rows with safety.training.text_data.split_of(text, source) == 'test' "
                              "(Davidson sha256 buckets 18-19 of 20, ToxiGen 15-19 of 20)"},
        "auroc": {part: {c.value: compare_auroc(truth[c][rows], {k: v[rows, fp32.col(c)] for k, v in scores.items()})
                         for c in CATEGORIES}
                  for part, rows in parts.items()},
        "score_agreement": agreement(fp32, scores),
    }
    return report


def functional_accuracy(scorers: dict[str, Scorer]) -> dict:
    rows = load_suite("functional")
    scores = all_scores(scorers, [r["text"] for r in rows])
    report: dict = {"n": len(rows), "auroc": {}}
    for category in sorted({c for r in rows for c in r["labels"]}):
        labelled = [i for i, r in enumerate(rows) if category in r["labels"]]
        y = np.array([rows[i]["labels"][category] for i in labelled], dtype=bool)
        j = scorers["fp32"].col(Category(category))
        report["auroc"][category] = compare_auroc(y, {k: v[labelled, j] for k, v in scores.items()})
    report["score_agreement"] = agreement(scorers["fp32"], scores)
    for name, scorer in scorers.items():
        report[f"mean_accuracy_{name}"] = functional_report(scorer)["mean_accuracy"]
    return report


def interleaved(fns: dict[str, Callable[[int], object]], calls: int, warmup: int,
                settle: int = 2) -> dict[str, list[float]]:
    """Milliseconds per call of each function, ``calls`` each, timed in ``BLOCKS`` alternating
    blocks after ``warmup`` untimed calls each; every block starts with ``settle`` untimed calls
    (the previous block's thread pool may still be spinning)."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        timed(fn, 0, warmup)
    per_block = [calls // BLOCKS + (1 if b < calls % BLOCKS else 0) for b in range(BLOCKS)]
    offset = 0
    for block, n in enumerate(per_block):
        order = list(fns.items()) if block % 2 == 0 else list(fns.items())[::-1]
        for name, fn in order:
            samples[name].extend(timed(lambda i, fn=fn, offset=offset: fn(offset + i), n, settle))
        offset += n
    return samples


def speed(args) -> dict:
    run = inference_executor()
    on_thread = lambda fn: lambda i: run.submit(fn, i).result()  # noqa: E731
    batch = [SAMPLE_TEXTS[i % len(SAMPLE_TEXTS)] for i in range(args.batch_size)]
    rounds = max(20, args.calls // 10)
    report: dict = {"texts": "bench/timing.py SAMPLE_TEXTS (8 texts, 4 flagged), cycled",
                    "batched_rounds": rounds, "blocks": BLOCKS}
    for spans in (True, False):
        detectors = {name: run.submit(lambda o=options: MiniLMToxicityDetector.load(explain=spans, **o)).result()
                     for name, options in VARIANTS.items()}
        with CpuWatch() as watch:
            single = interleaved({name: on_thread(lambda i, d=d: d.predict_batch([SAMPLE_TEXTS[i % len(SAMPLE_TEXTS)]]))
                                  for name, d in detectors.items()}, args.calls, args.warmup)
            batched = interleaved({name: on_thread(lambda i, d=d: d.predict_batch(batch)) for name, d in detectors.items()},
                                  rounds, 3, settle=1)
        key = "with_spans" if spans else "no_spans"
        part: dict = {"other_processes_cores_busy": watch.other_cores_busy}
        part |= {name: {"detector": f"{d.info.id} {d.info.version}", "single": summary(single[name]),
                       "batched": summary(batched[name], args.batch_size)} for name, d in detectors.items()}
        for name in detectors:
            if name == "fp32":
                continue
            part[name]["speedup_vs_fp32"] = {
                "single_p50": round(part["fp32"]["single"]["p50_ms"] / part[name]["single"]["p50_ms"], 3),
                "single_p95": round(part["fp32"]["single"]["p95_ms"] / part[name]["single"]["p95_ms"], 3),
                "batched_throughput": round(part[name]["batched"]["items_per_s"] / part["fp32"]["batched"]["items_per_s"], 3),
            }
        report[key] = part
        del detectors
    return report


class CpuWatch:
    """How many cores other processes kept busy while a block ran (from /proc/stat and this
    process's own CPU time): timing on a 2-core machine is only clean when this stays near 0."""

    def __enter__(self) -> "CpuWatch":
        self.start = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        end = self._sample()
        if self.start is None or end is None:
            self.other_cores_busy = None
            return
        (busy0, own0, wall0), (busy1, own1, wall1) = self.start, end
        self.other_cores_busy = round(max(0.0, (busy1 - busy0) - (own1 - own0)) / (wall1 - wall0), 3)

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        except (OSError, ValueError, IndexError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        own = os.times()
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.monotonic()


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def main() -> int:
    args = arguments(__doc__.splitlines()[0], "bench/results/compress_text.json")
    started = time.time()
    data = default_data_dir()
    artifact = load_artifact("minilm_toxicity")
    run = inference_executor()
    torch.set_num_threads(THREADS)  # OpenMP reads it per thread: here (reported) and on the inference thread
    run.submit(torch.set_num_threads, THREADS).result()
    scorers = {name: Scorer(run.submit(lambda o=options: MiniLMToxicityDetector.load(explain=False, **o)).result())
               for name, options in VARIANTS.items()}
    accuracy = {
        "held_out": (run.submit(held_out_accuracy, scorers, data).result() if data.is_dir()
                     else f"skipped: {data} does not exist"),
        "functional_suite": run.submit(functional_accuracy, scorers).result(),
        "scores": "calibrated detector scores with normalised forms and windows, as in production; no spans",
        "review_thresholds": {"policy": "default", **{c.value: float(t) for c, t in zip(scorers["fp32"].labels,
                                                                                         scorers["fp32"].review)}},
    }
    del scorers
    timing = speed(args)
    report = {
        "benchmark": "compress_text",
        "artifact": {"name": artifact.name, "version": artifact.version, "sha256": artifact.sha256},
        "variants": {name: f"MiniLMToxicityDetector.load({', '.join(f'{k}={v!r}' for k, v in o.items())})"
                     for name, o in VARIANTS.items()},
        "int8": "onnxruntime.quantization.quantize_dynamic(QInt8, per_channel=True) on the exported float32 graph "
                "(MatMul weights int8 per output channel, activations per tensor per call); torch_int8: "
                "torch.ao.quantization.quantize_dynamic on every nn.Linear of the encoder, the same scheme",
        "onnxruntime": __import__("onnxruntime").__version__,
        "accuracy": accuracy,
        "speed": timing,
        "quantized_engine": torch.backends.quantized.engine,
        "inference_thread_torch_threads": run.submit(torch.get_num_threads).result(),
        "cpu_model": cpu_model(),
        "safety": safety.__version__,
        "seconds": round(time.time() - started, 1),
    }
    return write_report(report, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
