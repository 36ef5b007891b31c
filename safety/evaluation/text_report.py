"""Measure a text detector against every bar of the text channel, into one JSON report.

    python -m safety.evaluation.text_report [--artifact DIR] [--out eval/text/results/minilm_toxicity.json]

What it measures (``flagged`` means: some category reaches the default policy's review threshold,
which is what a user sees):

* held-out shared data (``../shared/data``; skipped when absent): Davidson test split AUROC for
  toxic (hate or offensive, ``toxicity``) and hate only (``identity_attack``); ToxiGen test split
  AUROC for hate (``identity_attack``) and the neutral statements' flag rate, overall and per group;
  ECE of ``toxicity`` and ``identity_attack`` before calibration (sigmoid of the raw logit) and after;
* identity templates (``eval/text/identity``): per group, the flag rate of neutral and positive
  templates, and subgroup and BPSN AUC of ``identity_attack``;
* functional suite (``eval/text/functional``): per functionality and labelled category, accuracy at
  the review threshold;
* obfuscation suite (``eval/text/obfuscation``): share of obfuscated toxic variants that keep the
  flag of their base sentence, and flag rate of benign look-alikes.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from safety.artifacts import load_artifact
from safety.detectors.text.minilm import MiniLMToxicityDetector
from safety.evaluation import fairness, metrics
from safety.evaluation.suites import finish_report, load_suite, suite_path
from safety.policy import get_policy
from safety.taxonomy import Category
from safety.training.text_data import default_data_dir, load_davidson, load_toxigen

ROUND = 4


def _r(x: float) -> float:
    return round(float(x), ROUND)


class Scorer:
    """Calibrated scores (with normalisation, as in production) and review thresholds."""

    def __init__(self, detector: MiniLMToxicityDetector, policy: str = "default") -> None:
        # Spans are explanations, not scores: skip the occlusion passes while measuring.
        detector.explain_threshold = float("inf")
        self.detector = detector
        rules = get_policy(policy)
        self.labels = detector.labels
        self.review = np.array([rules.thresholds(c).review for c in self.labels])

    def scores(self, texts: list[str], batch: int = 256) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch):
            out.extend([[d.scores[c] for c in self.labels] for d in self.detector.predict_batch(texts[i : i + batch])])
        return np.array(out).reshape(len(texts), len(self.labels))

    def flagged(self, scores: np.ndarray) -> np.ndarray:
        return (scores >= self.review).any(axis=1)

    def col(self, category: Category) -> int:
        return self.labels.index(category)


def shared_data_report(scorer: Scorer, data: Path) -> dict:
    davidson = [e for e in load_davidson(data / "davidson" / "labeled_data.csv") if e.split == "test"]
    toxigen = [e for e in load_toxigen(data / "toxigen" / "toxigen_sentences.csv") if e.split == "test"]
    tox, hate = scorer.col(Category.TOXICITY), scorer.col(Category.IDENTITY_ATTACK)
    report: dict = {}

    d_scores = scorer.scores([e.text for e in davidson])
    d_kind = np.array([e.kind for e in davidson])
    report["davidson_test"] = {
        "n": len(davidson),
        "auroc_toxic": _r(metrics.auroc(d_kind != "neither", d_scores[:, tox])),
        "auroc_hate": _r(metrics.auroc(d_kind == "hate", d_scores[:, hate])),
        "rows": "safety.training.text_data.split_of(text, 'davidson') == 'test' (sha256 buckets 18-19 of 20)",
    }
    t_scores = scorer.scores([e.text for e in toxigen])
    t_hate = np.array([e.kind == "hate" for e in toxigen])
    t_flag = scorer.flagged(t_scores)
    groups = np.array([e.groups[0] for e in toxigen])
    per_group = {}
    for group in sorted(set(groups)):
        neutral = (groups == group) & ~t_hate
        per_group[group] = {"neutral_n": int(neutral.sum()),
                            "neutral_flag_rate": _r(t_flag[neutral].mean()) if neutral.any() else None}
    report["toxigen_test"] = {
        "n": len(toxigen),
        "auroc_hate": _r(metrics.auroc(t_hate, t_scores[:, hate])),
        "neutral_flag_rate": _r(t_flag[~t_hate].mean()),
        "neutral_flag_rate_by_group": per_group,
        "rows": "split_of(text, 'toxigen') == 'test' (sha256 buckets 15-19 of 20)",
    }
    # Calibration: raw sigmoid vs calibrated, on the texts as given (no normalisation).
    texts = [e.text for e in davidson + toxigen]
    logits = scorer.detector.logits(texts)
    calibrated = scorer.detector.calibrate(logits)
    labels = {
        Category.TOXICITY: np.array([e.kind != "neither" for e in davidson] + list(t_hate)),
        Category.IDENTITY_ATTACK: np.array([e.kind == "hate" for e in davidson] + list(t_hate)),
    }
    report["calibration_test"] = {
        c.value: {"ece_before": _r(metrics.expected_calibration_error(y, 1 / (1 + np.exp(-logits[:, scorer.col(c)])))),
                  "ece_after": _r(metrics.expected_calibration_error(y, calibrated[:, scorer.col(c)])),
                  "n": len(y)}
        for c, y in labels.items()
    }
    return report


def identity_report(scorer: Scorer) -> dict:
    rows = load_suite("identity")
    scores = scorer.scores([r["text"] for r in rows])
    flagged = scorer.flagged(scores)
    y = np.array([r["labels"]["identity_attack"] for r in rows])
    s = scores[:, scorer.col(Category.IDENTITY_ATTACK)]
    benign = np.array([r["kind"] in ("neutral", "positive") for r in rows])
    by_group = {}
    for group in sorted({g for r in rows for g in r["groups"]}):
        in_group = np.array([group in r["groups"] for r in rows])
        by_group[group] = {
            "benign_flag_rate": _r(flagged[in_group & benign].mean()),
            "hateful_recall": _r(flagged[in_group & (y == 1)].mean()),
            "subgroup_auc": _r(fairness.subgroup_auc(y, s, in_group)),
            "bpsn_auc": _r(fairness.bpsn_auc(y, s, in_group)),
            "bnsp_auc": _r(fairness.bnsp_auc(y, s, in_group)),
        }
    worst = lambda key, fn: _r(fn(v[key] for v in by_group.values()))  # noqa: E731
    return {
        "n": len(rows), "groups": len(by_group), "overall_auc": _r(metrics.auroc(y, s)),
        "max_benign_flag_rate": worst("benign_flag_rate", max), "min_subgroup_auc": worst("subgroup_auc", min),
        "min_bpsn_auc": worst("bpsn_auc", min), "by_group": by_group,
    }


def functional_report(scorer: Scorer) -> dict:
    """Accuracy per functionality on its *scored* categories (``functionalities.json``); the other
    labelled categories are reported separately, since annotators reasonably disagree on them."""
    rows = load_suite("functional")
    spec = json.loads((suite_path("functional").parent / "functionalities.json").read_text(encoding="utf-8"))
    scores = scorer.scores([r["text"] for r in rows])
    scored: dict = defaultdict(dict)
    unscored: dict = defaultdict(dict)
    for functionality in sorted({r["functionality"] for r in rows}):
        members = [i for i, r in enumerate(rows) if r["functionality"] == functionality]
        for category in rows[members[0]]["labels"]:
            j = scorer.col(Category(category))
            truth = np.array([rows[i]["labels"][category] for i in members], dtype=bool)
            predicted = scores[members, j] >= scorer.review[j]
            target = scored if category in spec[functionality]["scored"] else unscored
            target[functionality][category] = _r((truth == predicted).mean())
    means = {c: _r(np.mean([v[c] for v in scored.values() if c in v]))
             for c in sorted({c for v in scored.values() for c in v})}
    return {"n": len(rows), "accuracy": dict(scored), "mean_accuracy": means, "unscored_accuracy": dict(unscored)}


def obfuscation_report(scorer: Scorer) -> dict:
    rows = load_suite("obfuscation")
    scores = scorer.scores([r["text"] for r in rows])
    flagged = dict(zip((r["id"] for r in rows), scorer.flagged(scores)))
    variants = [r for r in rows if r["kind"] == "toxic_variant"]
    kept = [flagged[r["id"]] for r in variants if flagged[r["base_id"]]]
    by_kind = defaultdict(list)
    for r in variants:
        if flagged[r["base_id"]]:
            by_kind[r["obfuscation"]].append(flagged[r["id"]])
    benign = [flagged[r["id"]] for r in rows if r["kind"] == "benign"]
    bases = [flagged[r["id"]] for r in rows if r["kind"] == "toxic"]
    return {
        "toxic_bases_flagged": _r(np.mean(bases)), "variants_scored": len(kept),
        "variants_keep_flag": _r(np.mean(kept)), "by_obfuscation": {k: _r(np.mean(v)) for k, v in sorted(by_kind.items())},
        "benign_flag_rate": _r(np.mean(benign)), "benign_n": len(benign),
        "benign_flagged": [r["text"] for r in rows if r["kind"] == "benign" and flagged[r["id"]]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, help="artifact folder (default: models/minilm_toxicity)")
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=Path("eval/text/results/minilm_toxicity.json"))
    args = parser.parse_args(argv)
    started = time.time()
    artifact = load_artifact(args.artifact.name, root=args.artifact.parent) if args.artifact else None
    detector = MiniLMToxicityDetector.load(artifact)
    scorer = Scorer(detector)
    report = {"detector": detector.info.id, "version": detector.info.version, "sha256": detector.info.sha256,
              "policy": "default", "review_thresholds": dict(zip((c.value for c in scorer.labels), scorer.review.tolist()))}
    if args.data.is_dir():
        report.update(shared_data_report(scorer, args.data))
    else:
        report["shared_data"] = f"skipped: {args.data} does not exist"
    report["identity_templates"] = identity_report(scorer)
    report["functional"] = functional_report(scorer)
    if suite_path("obfuscation").is_file():
        report["obfuscation"] = obfuscation_report(scorer)
    return finish_report(report, args.out, started, hide=("functional",))


if __name__ == "__main__":
    raise SystemExit(main())
