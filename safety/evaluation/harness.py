"""``safety eval``: run the moderator over labelled rows and report how good its verdicts are.

    safety eval --data FILE --report DIR [--policy P] [--bundle B] [--batch-size 32]

Writes to ``DIR``:

* ``predictions.jsonl``: per row (sorted by id) its labels, groups, each category's probability,
  whether the policy flagged it (probability >= the review threshold), the action, and the error
  code when the row could not be moderated (such rows are kept and counted, never dropped);
* ``summary.json``: deterministic (no timings; seeded bootstraps), for every category with
  labels: n, positives, AUROC and average precision, precision / recall / F1 / FPR and the
  confusion matrix at the review threshold, precision and recall at the block threshold, ECE and
  the reliability curve, bootstrap intervals; per identity group and per intersection of groups:
  selection rate, FPR, FNR with bootstrap intervals, the demographic-parity and equalized-odds
  differences, and the Jigsaw bias AUCs (subgroup, BPSN, BNSP, generalised mean p = -5);
* ``run.json``: what varies between runs (seconds, rows per second, versions);
* ``report.html``: the same, readable, with reliability diagrams and group-rate plots (SVG).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from safety.errors import SafetyError
from safety.evaluation import fairness, metrics
from safety.evaluation.dataset import EvalRow, file_sha256
from safety.evaluation.suites import write_result
from safety.inputs import prepare
from safety.policy import Policy
from safety.taxonomy import Category

N_BOOT = 200
SEED = 0
#: Groups with fewer labelled rows than this are reported but left out of the differences.
MIN_GROUP_ROWS = 5


def _clean(value):
    """JSON-safe and deterministic: NaN/inf -> None, numpy scalars -> Python, floats rounded."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if not math.isfinite(value) else round(value, 6)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# -- running ---------------------------------------------------------------------------------------


def predict(rows: Sequence[EvalRow], moderator, policy: Policy, *, batch_size: int = 32,
            progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Moderate every row (batched); one prediction dict per row, in row order."""
    out: list[dict] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        prepared, errors = [], {}
        for i, row in enumerate(chunk):
            try:
                prepared.append(prepare(row.text, None if row.image is None else row.image, limits=moderator.limits))
            except SafetyError as exc:  # a bad row is reported, not fatal
                errors[i] = exc.code
        results = iter(moderator.moderate_inputs(prepared, policy=policy)) if prepared else iter(())
        for i, row in enumerate(chunk):
            base = {"id": row.id, "labels": {c.value: v for c, v in row.labels.items()}, "groups": list(row.groups)}
            if i in errors:
                out.append({**base, "probabilities": {}, "flagged": {}, "action": None, "error": errors[i]})
                continue
            result = next(results)
            out.append({**base,
                        "probabilities": {c.value: r.probability for c, r in result.categories.items()},
                        "flagged": {c.value: r.flagged for c, r in result.categories.items()},
                        "action": result.action.value,
                        "error": None})
        if progress:
            progress(min(start + batch_size, len(rows)), len(rows))
    return out


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(1, total)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="" if done < total else "\n",
          file=sys.stderr, flush=True)


# -- metrics ---------------------------------------------------------------------------------------


def _ci(metric, *arrays) -> list[float]:
    return list(metrics.bootstrap_ci(metric, *arrays, n_boot=N_BOOT, seed=SEED))


def category_metrics(y: np.ndarray, p: np.ndarray, review: float, block: float) -> dict:
    flag = p >= review
    blocked = p >= block
    tp = int((flag & (y == 1)).sum())
    fp = int((flag & (y == 0)).sum())
    tn = int((~flag & (y == 0)).sum())
    fn = int((~flag & (y == 1)).sum())
    precision, recall, f1 = metrics.precision_recall_f1(y, flag)
    block_precision, block_recall, _ = metrics.precision_recall_f1(y, blocked)
    both = len(set(y.tolist())) == 2
    centres, accuracy, counts = metrics.reliability_curve(y, p, n_bins=10)
    return {
        "n": int(len(y)), "positives": int(y.sum()),
        "auroc": metrics.auroc(y, p) if both else None,
        "average_precision": metrics.average_precision(y, p) if y.sum() else None,
        "review_threshold": review, "block_threshold": block,
        "precision": precision, "recall": recall, "f1": f1, "fpr": metrics.false_positive_rate(y, flag),
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
        "block": {"precision": block_precision, "recall": block_recall},
        "ece": metrics.expected_calibration_error(y, p, n_bins=10),
        "reliability": {"bin_mean_probability": list(centres), "bin_positive_rate": list(accuracy),
                        "bin_count": [int(c) for c in counts]},
        "ci95": {
            "auroc": _ci(metrics.auroc, y, p) if both else None,
            "f1": _ci(lambda a, b: metrics.precision_recall_f1(a, b)[2], y, flag),
            "recall": _ci(lambda a, b: metrics.precision_recall_f1(a, b)[1], y, flag),
        },
    }


def _rates(y: np.ndarray, flag: np.ndarray) -> dict:
    return {
        "n": int(len(y)), "positives": int(y.sum()),
        "selection_rate": metrics.selection_rate(y, flag), "fpr": metrics.false_positive_rate(y, flag),
        "fnr": metrics.false_negative_rate(y, flag),
        "ci95": {"selection_rate": _ci(metrics.selection_rate, y, flag),
                 "fpr": _ci(metrics.false_positive_rate, y, flag), "fnr": _ci(metrics.false_negative_rate, y, flag)},
    }


def _spread(table: dict, key: str) -> float | None:
    values = [row[key] for row in table.values() if row["n"] >= MIN_GROUP_ROWS and row[key] is not None
              and math.isfinite(row[key])]
    return max(values) - min(values) if len(values) >= 2 else None


def fairness_metrics(y: np.ndarray, p: np.ndarray, flag: np.ndarray, groups: list[tuple[str, ...]]) -> dict:
    names = sorted({g for gs in groups for g in gs})
    if not names:
        return {}
    masks = {g: np.asarray([g in gs for gs in groups]) for g in names}
    combos = sorted({"&".join(sorted(gs)) for gs in groups if len(gs) >= 2})
    intersections = {c: np.asarray(["&".join(sorted(gs)) == c for gs in groups]) for c in combos}
    per_group = {g: _rates(y[m], flag[m]) for g, m in masks.items()}
    tpr_table = {g: {"n": row["n"], "tpr": None if row["fnr"] is None or not math.isfinite(row["fnr"]) else 1 - row["fnr"]}
                 for g, row in per_group.items()}
    out = {
        "groups": per_group,
        "intersections": {c: _rates(y[m], flag[m]) for c, m in intersections.items()},
        "demographic_parity_difference": _spread(per_group, "selection_rate"),
        "equalized_odds_difference": max((v for v in (_spread(tpr_table, "tpr"), _spread(per_group, "fpr"))
                                          if v is not None), default=None),
        "min_group_rows": MIN_GROUP_ROWS,
    }
    if len(set(y.tolist())) == 2:
        table = fairness.bias_auc_table(y, p, masks)
        out["bias_aucs"] = table
        out["final_bias_score"] = fairness.final_bias_score(metrics.auroc(y, p), table)
    return out


def summarize(rows: Sequence[EvalRow], predictions: Sequence[dict], policy: Policy) -> dict:
    ok = [pred for pred in predictions if pred["error"] is None]
    summary: dict = {
        "rows": len(predictions), "moderated": len(ok),
        "errors": {code: sum(1 for p in predictions if p["error"] == code)
                   for code in sorted({p["error"] for p in predictions if p["error"]})},
        "actions": {a: sum(1 for p in ok if p["action"] == a) for a in ("allow", "review", "block")},
        "categories": {}, "fairness": {},
    }
    for category in Category:
        name = category.value
        labelled = [pred for pred in ok if name in pred["labels"] and pred["probabilities"].get(name) is not None]
        unassessed = sum(1 for pred in ok if name in pred["labels"] and pred["probabilities"].get(name) is None)
        if not labelled:
            continue
        y = np.asarray([pred["labels"][name] for pred in labelled])
        p = np.asarray([pred["probabilities"][name] for pred in labelled], dtype=np.float64)
        thresholds = policy.thresholds(category)
        summary["categories"][name] = {**category_metrics(y, p, thresholds.review, thresholds.block),
                                       "unassessed": unassessed}
        flag = p >= thresholds.review
        fair = fairness_metrics(y, p, flag, [tuple(pred["groups"]) for pred in labelled])
        if fair:
            summary["fairness"][name] = fair
    return _clean(summary)


# -- the whole run ---------------------------------------------------------------------------------


def evaluate(data: Path, report_dir: Path, *, moderator, policy: Policy, rows: Sequence[EvalRow],
             batch_size: int = 32, progress: bool = True) -> dict:
    """Moderate ``rows``, write the report folder, return the summary."""
    started = time.perf_counter()
    predictions = predict(rows, moderator, policy, batch_size=batch_size,
                          progress=_progress_bar if progress else None)
    predictions.sort(key=lambda p: p["id"])
    seconds = time.perf_counter() - started
    summary = {
        "data": {"path": str(data), "sha256": file_sha256(data), "rows": len(rows)},
        "policy": {"name": policy.name, "version": policy.version},
        "model_bundle": moderator.bundle_ref.model_dump(),
        **summarize(rows, predictions, policy),
    }
    report_dir.mkdir(parents=True, exist_ok=True)
    write_result(summary, report_dir / "summary.json")
    with (report_dir / "predictions.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(_clean(p), sort_keys=True) + "\n" for p in predictions)
    write_result({"seconds": round(seconds, 2), "rows_per_second": round(len(rows) / max(seconds, 1e-9), 1),
                  "batch_size": batch_size}, report_dir / "run.json")
    from safety.evaluation.html import render

    (report_dir / "report.html").write_text(render(summary), encoding="utf-8")
    return summary
