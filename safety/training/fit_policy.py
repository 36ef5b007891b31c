"""Fit the shipped policies' per-category thresholds on validation data, and check them on held-out data.

    python -m safety.training.fit_policy [--features-cache FILE] [--policies default strict permissive]

Each shipped policy states its targets (``[targets]``: ``block_precision``, ``review_recall``).
For every category the combiner has labelled data for, on the combiner's **validation**
probabilities, this picks

* ``block``: the lowest threshold whose precision reaches ``block_precision`` with at least
  ``--min-flagged`` rows flagged (1.0, "never blocked automatically", when none does);
* ``review``: the highest threshold whose recall still reaches ``review_recall`` (never above
  ``block``).

Validation probabilities are out-of-fold: the composed set's fit half (the rows the shipped
combiner was trained on, ``safety.training.train_combiner``) is cut into 5 folds and each fold is
scored by a combiner fitted, with the same recipe, on the other four. The chosen thresholds are then
checked with the shipped combiner on the test half, which neither the combiner nor this script
chose anything on.

The fitted sections are written at the end of each policy file, below a marker line; everything
above it (name, description, defaults, hand-set categories) is kept as written. Categories with
no labelled data offline keep the policy's hand-set thresholds, and the file says so.
The figures go to ``eval/combined/results/policy_thresholds.json``.

Precision depends on prevalence, and these sets are far richer in harmful content than most real
traffic (Davidson is about 80% offensive). So the block target is met at the policy's stated
``prevalence`` (``[targets]``): positives and negatives are reweighted from the data's prevalence to
that one before precision is computed. Recall does not depend on prevalence; the recall target must
hold in every source (Davidson, ToxiGen, image-only rows, pairs) with enough positives, not just
pooled, so that Davidson's 2,500 tweets do not decide how much of ToxiGen's implicit hate is
missed. Refit on your own
labelled traffic when you have it.
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from safety.combine import CalibratedCombiner, load_combiner, pattern_of
from safety.evaluation import metrics
from safety.evaluation.suites import write_result
from safety.policy import load_policy_file
from safety.training import train_combiner as composed
from safety.taxonomy import Category
from safety.training.text_data import default_data_dir

MARKER = "# --- fitted thresholds: written by python -m safety.training.fit_policy; edit above this line ---"
SHIPPED = ("strict", "default", "permissive")


def _precision(tp, flagged, positives: int, n: int, prevalence: float | None):
    """Precision of ``flagged`` rows holding ``tp`` positives; at ``prevalence`` when given, by
    reweighting positives and negatives from the data's own prevalence to that one."""
    tp = np.asarray(tp, dtype=np.float64)
    fp = np.asarray(flagged, dtype=np.float64) - tp
    w_pos, w_neg = (1.0, 1.0) if prevalence is None else (prevalence / (positives / n),
                                                          (1 - prevalence) / (1 - positives / n))
    denominator = w_pos * tp + w_neg * fp
    return np.divide(w_pos * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def _curves(y: np.ndarray, p: np.ndarray, values: np.ndarray, prevalence: float | None):
    """Rows flagged, precision and recall of ``p >= t`` for every ``t`` in ``values``."""
    flagged = len(p) - np.searchsorted(np.sort(p), values, side="left")
    tp = int(y.sum()) - np.searchsorted(np.sort(p[y == 1]), values, side="left")
    return flagged, _precision(tp, flagged, int(y.sum()), len(y), prevalence), tp / y.sum()


def choose_thresholds(y_true, probability, *, block_precision: float, review_recall: float,
                      review_precision: float = 0.0, prevalence: float | None = None, min_flagged: int = 10,
                      groups=None, min_group_positives: int = 5) -> dict:
    """Block and review thresholds on one category's validation probabilities (pure function).

    Candidate thresholds are the observed probabilities. ``block`` is the lowest candidate whose
    precision (at ``prevalence``, when given) is at least ``block_precision`` with at least
    ``min_flagged`` rows at or above it, or 1.0 when no candidate reaches it. ``review`` is the
    highest candidate whose recall is at least ``review_recall``, raised when needed to the lowest
    candidate whose precision is at least ``review_precision`` (a review queue that is mostly
    false alarms helps nobody; the recall target is then missed, and ``review_recall_met`` says
    so), and capped at ``block``.

    With ``groups`` (a source per row), the review recall must hold in every group that has both
    classes and at least ``min_group_positives`` positives, not only pooled: the largest source
    must not decide what the others lose. Precision stays pooled: it is about the queue as a whole.
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(probability, dtype=np.float64)
    if y.shape != p.shape or not len(y) or not y.any() or y.all():
        raise ValueError("need labels and probabilities of the same length, with both classes present")
    values = np.unique(p)[::-1]
    flagged, precision, recall = _curves(y, p, values, prevalence)
    ok_block = (precision >= block_precision) & (flagged >= min_flagged)
    ok_review = recall >= review_recall
    used = []
    if groups is not None:
        groups = np.asarray(groups)
        for group in sorted(set(groups.tolist())):
            mask = groups == group
            if int(y[mask].sum()) < min_group_positives or y[mask].all():
                continue
            used.append(group)
            _, _, g_recall = _curves(y[mask], p[mask], values, prevalence)
            ok_review &= g_recall >= review_recall
    block = float(values[ok_block].min()) if ok_block.any() else 1.0
    review = float(values[ok_review].max()) if ok_review.any() else float(values.min())
    floor = precision >= review_precision
    floor_value = float(values[floor].min()) if floor.any() else 1.0
    recall_met = review >= floor_value
    review = min(max(review, floor_value), block)
    return {"review": review, "block": block, "block_reachable": bool(ok_block.any()),
            "review_recall_met": bool(recall_met), "groups": used,
            "validation": at_thresholds(y, p, review=review, block=block, prevalence=prevalence)}


def at_thresholds(y_true, probability, *, review: float, block: float, prevalence: float | None = None) -> dict:
    """Precision (as measured, and at ``prevalence``) and recall of ``probability >= threshold``
    at the review and block thresholds."""
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(probability, dtype=np.float64)
    out = {"n": int(len(y)), "positives": int(y.sum())}
    for name, threshold in (("review", review), ("block", block)):
        hit = p >= threshold
        precision, recall, _ = metrics.precision_recall_f1(y, hit)
        out[name] = {"precision": round(precision, 4), "recall": round(recall, 4), "flagged": int(hit.sum())}
        if prevalence is not None:
            out[name]["precision_at_prevalence"] = round(float(_precision(
                int(y[hit].sum()), int(hit.sum()), int(y.sum()), len(y), prevalence)), 4)
    return out


def out_of_fold(combiner: CalibratedCombiner, features: list[dict], labels: dict[str, np.ndarray],
                *, folds: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Each row's probability from a clone of ``combiner`` fitted without the row's fold
    (stratified on row kind, so every fold holds every source)."""
    strata = np.asarray([pattern_of(f) for f in features])
    out = {c: np.full(len(features), np.nan) for c in labels}
    for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(features, strata):
        model = clone(combiner).fit([features[i] for i in train], {c: y[train] for c, y in labels.items()})
        predicted = model.predict_proba([features[i] for i in test])
        for category in out:
            if category in predicted:
                out[category][test] = predicted[category]
    return out


def source_of(row: dict) -> str:
    """The data source a composed row counts under for per-source targets: the text data set, or
    image-only rows, or text+image pairs."""
    kind = row["kind"]
    return kind if kind.startswith("text:") else kind.split(":", 1)[0]


def _round_down(x: float) -> float:
    return float(np.floor(x * 1000) / 1000)


def _round_up(x: float) -> float:
    return float(min(1.0, np.ceil(x * 1000) / 1000))


def _figures(entry: dict) -> str:
    parts = [f"n={entry['n']} (positives {entry['positives']}):"]
    for name in ("review", "block"):
        at = entry[name]
        shown = f"P {at['precision']:.3f}"
        if "precision_at_prevalence" in at:
            shown += f" (at the target prevalence {at['precision_at_prevalence']:.3f})"
        parts.append(f"{name} {shown} R {at['recall']:.3f} flagged {at['flagged']};")
    return " ".join(parts).rstrip(";")


def policy_block(fitted: dict[str, dict], *, untouched: list[str]) -> str:
    lines = [MARKER,
             "# Thresholds for the categories with labelled validation data, chosen for this policy's [targets] on",
             "# the combiner's out-of-fold probabilities over the composed validation set, and checked on the",
             "# held-out test half (eval/combined/results/policy_thresholds.json). The numbers are precision (P)",
             "# and recall (R) of 'probability >= threshold', precision also reweighted to the target prevalence",
             "# (those sets are far richer in harmful content than most traffic).",
             f"# No labelled data offline, so hand-set (above or [defaults]): {', '.join(untouched)}."]
    for category, entry in fitted.items():
        v, t = entry["validation"], entry["test"]
        lines += ["", f"[categories.{category}]",
                  f"# validation {_figures(v)}",
                  f"# test       {_figures(t)}"]
        lines.append(f"# Review recall held in each source with enough positives: {', '.join(entry['groups']) or 'pooled only'}.")
        if not entry["block_reachable"]:
            lines.append("# No threshold reached the block precision target: never blocked automatically.")
        if not entry["review_recall_met"]:
            lines.append("# The review recall target would have cost more than the review precision floor allows:"
                         " review raised to the floor.")
        lines += [f"review = {entry['review']}", f"block = {entry['block']}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fit the shipped policies' thresholds on validation data.")
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--features-cache", type=Path, default=None,
                        help="the channel outputs cached by train_combiner --features-cache (same rows)")
    parser.add_argument("--policies", nargs="+", default=list(SHIPPED))
    parser.add_argument("--policy-dir", type=Path, default=Path(str(resources.files("safety.policies"))))
    parser.add_argument("--min-flagged", type=int, default=10)
    parser.add_argument("--report", type=Path, default=Path("eval/combined/results/policy_thresholds.json"))
    args = parser.parse_args(argv)

    rows = composed.composed_rows(args.data)
    features = composed.cached_features(rows, args.features_cache)
    shipped = load_combiner()
    fit = [i for i, r in enumerate(rows) if r["half"] == "fit"]
    test = [i for i, r in enumerate(rows) if r["half"] == "test"]
    labels = {c: np.asarray([rows[i]["labels"].get(c, -1) for i in fit]) for c in shipped.models_ if shipped.models_[c]}
    validation = out_of_fold(shipped, [features[i] for i in fit], labels)
    sources = np.asarray([source_of(rows[i]) for i in fit])
    held_out = shipped.predict_proba([features[i] for i in test])

    report: dict = {"command": "python -m safety.training.fit_policy", "policies": {}}
    for name in args.policies:
        path = args.policy_dir / f"{name}.toml"
        policy = load_policy_file(path)
        if policy.targets is None:
            raise SystemExit(f"policy {name!r} has no [targets]")
        manual = path.read_text(encoding="utf-8").split(MARKER)[0].rstrip() + "\n"
        fitted: dict[str, dict] = {}
        for category, y in labels.items():
            keep = (y >= 0) & np.isfinite(validation[category])
            chosen = choose_thresholds(y[keep], validation[category][keep], min_flagged=args.min_flagged,
                                       groups=sources[keep],
                                       block_precision=policy.targets.block_precision,
                                       review_recall=policy.targets.review_recall,
                                       review_precision=policy.targets.review_precision,
                                       prevalence=policy.targets.prevalence)
            review, block = _round_down(chosen["review"]), _round_up(chosen["block"])
            if f"[categories.{category}]" in manual:
                raise SystemExit(f"{path}: [categories.{category}] is hand-set above the marker; remove it to fit it")
            y_test = np.asarray([rows[i]["labels"].get(category, -1) for i in test])
            test_keep = (y_test >= 0) & np.isfinite(held_out[category])
            fitted[category] = {
                "review": review, "block": block, "block_reachable": chosen["block_reachable"],
                "review_recall_met": chosen["review_recall_met"], "groups": chosen["groups"],
                "validation": at_thresholds(y[keep], validation[category][keep], review=review, block=block,
                                            prevalence=policy.targets.prevalence),
                "test": at_thresholds(y_test[test_keep], held_out[category][test_keep], review=review, block=block,
                                      prevalence=policy.targets.prevalence),
            }
        untouched = sorted({c.value for c in Category} - set(fitted))
        path.write_text(manual + "\n" + policy_block(fitted, untouched=untouched), encoding="utf-8")
        load_policy_file(path)  # the written file must still be a valid policy
        report["policies"][name] = {"targets": policy.targets.model_dump(), "categories": fitted}
    write_result(report, args.report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
