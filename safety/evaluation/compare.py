"""A/B comparison of two evaluation runs (``safety eval --report DIR``) on the same data.

Rows are paired by id, so every test here is a paired one: McNemar's test on the per-row
correctness of a category's flag, and paired-bootstrap confidence intervals (the same resampled
rows for both runs) for the difference ``B - A`` of AUROC, average precision, precision, recall
and F1. ``compare_runs`` returns a plain dict that is deterministic (fixed seeds, sorted keys)
and JSON-serialisable (Python numbers only; NaN written as ``None``); ``to_json`` renders it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from safety.errors import InputError
from safety.evaluation.gates import load_summary
from safety.evaluation.metrics import auroc, average_precision, precision_recall_f1

__all__ = ["mcnemar", "paired_bootstrap_delta", "compare_runs", "load_predictions", "to_json"]

# Below this many discordant pairs the exact binomial test is used, at or above it the chi-square
# approximation with continuity correction (the usual rule of thumb).
EXACT_BELOW = 25


def mcnemar(a_correct: ArrayLike, b_correct: ArrayLike) -> dict:
    """McNemar's test of whether two classifiers err on the same rows at the same rate.

    ``a_correct``/``b_correct`` are paired per-row booleans (was A / B right on this row).
    Only the discordant rows count: ``b`` = A right and B wrong, ``c`` = A wrong and B right.
    With ``b + c < 25`` the p-value is the exact two-sided binomial one
    (``binomtest(min(b, c), b + c, 0.5)``, ``statistic`` None); otherwise the chi-square statistic
    with continuity correction ``(|b - c| - 1)^2 / (b + c)`` on 1 degree of freedom. With no
    discordant row the p-value is 1.0.

    Returns ``{"a_only_correct": b, "b_only_correct": c, "statistic": float | None,
    "p_value": float, "method": "exact" | "chi2"}``.
    """
    a = np.asarray(a_correct)
    b_arr = np.asarray(b_correct)
    if a.ndim != 1 or b_arr.ndim != 1:
        raise ValueError("a_correct and b_correct must be 1-dimensional")
    if len(a) != len(b_arr):
        raise ValueError(f"arrays have different lengths: {sorted({len(a), len(b_arr)})}")
    for arr, name in ((a, "a_correct"), (b_arr, "b_correct")):
        if arr.dtype != np.bool_ and arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must be binary (0/1 or bool)")
    a = a.astype(bool)
    b_arr = b_arr.astype(bool)
    b = int(np.sum(a & ~b_arr))
    c = int(np.sum(~a & b_arr))
    n = b + c
    if n == 0:
        statistic, p_value, method = None, 1.0, "exact"
    elif n < EXACT_BELOW:
        statistic, p_value, method = None, float(stats.binomtest(min(b, c), n, 0.5).pvalue), "exact"
    else:
        statistic = float((abs(b - c) - 1) ** 2 / n)
        p_value, method = float(stats.chi2.sf(statistic, 1)), "chi2"
    return {"a_only_correct": b, "b_only_correct": c, "statistic": statistic,
            "p_value": min(p_value, 1.0), "method": method}


def paired_bootstrap_delta(
    metric: Callable[[ArrayLike, ArrayLike], float],
    y_true: ArrayLike,
    a: ArrayLike,
    b: ArrayLike,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """``metric(y_true, b) - metric(y_true, a)`` with a paired percentile-bootstrap CI.

    Each resample draws row indices with replacement and applies them to ``y_true``, ``a`` and
    ``b`` alike. Draws where the delta is not finite (an AUROC resample with one class) are
    dropped; the CI is ``[nan, nan]`` when none is finite. Deterministic for a given ``seed``.

    Returns ``{"a": float, "b": float, "delta": float, "ci": [low, high]}`` (NaN where undefined).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    y, pa, pb = np.asarray(y_true), np.asarray(a), np.asarray(b)
    if not len(y) == len(pa) == len(pb):
        raise ValueError(f"arrays have different lengths: {sorted({len(y), len(pa), len(pb)})}")
    n = len(y)
    if n == 0:
        nan = float("nan")
        return {"a": nan, "b": nan, "delta": nan, "ci": [nan, nan]}
    value_a, value_b = float(metric(y, pa)), float(metric(y, pb))
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_boot, dtype=np.float64)
    for i in range(n_boot):
        idx = rng.integers(0, n, size=n)
        yi = y[idx]
        deltas[i] = metric(yi, pb[idx]) - metric(yi, pa[idx])
    deltas = deltas[np.isfinite(deltas)]
    if deltas.size:
        low, high = (float(q) for q in np.quantile(deltas, [alpha / 2.0, 1.0 - alpha / 2.0]))
    else:
        low = high = float("nan")
    return {"a": value_a, "b": value_b, "delta": value_b - value_a, "ci": [low, high]}


def _precision(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return precision_recall_f1(y_true, y_pred)[0]


def _recall(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return precision_recall_f1(y_true, y_pred)[1]


def _f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return precision_recall_f1(y_true, y_pred)[2]


SCORE_METRICS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "auroc": auroc,
    "average_precision": average_precision,
}
FLAG_METRICS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "precision": _precision,
    "recall": _recall,
    "f1": _f1,
}


# --- reading a report folder ----------------------------------------------------------------------


def load_predictions(report_dir: str | Path) -> dict[str, dict]:
    """The rows of ``<report_dir>/predictions.jsonl`` by id.

    Raises :class:`InputError` when the file is missing or unreadable, a line is not a JSON
    object, a row has no string ``id``, or an id repeats.
    """
    path = Path(report_dir) / "predictions.jsonl"
    if not path.is_file():
        raise InputError(f"{report_dir}: no predictions.jsonl (is it the --report folder of `safety eval`?)")
    rows: dict[str, dict] = {}
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{number}: not JSON: {exc.msg}") from exc
                if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                    raise InputError(f"{path}:{number}: expected an object with a string 'id'")
                if row["id"] in rows:
                    raise InputError(f"{path}:{number}: duplicate id {row['id']!r}")
                rows[row["id"]] = row
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    return rows


def _run_info(report_dir: str | Path, n_rows: int) -> dict:
    info: dict[str, Any] = {"report": str(report_dir), "rows": n_rows, "policy": None, "model_bundle": None}
    if (Path(report_dir) / "summary.json").is_file():
        summary = load_summary(report_dir)
        info["policy"] = summary.get("policy")
        info["model_bundle"] = summary.get("model_bundle")
    return info


def _field(row: Mapping, name: str) -> Mapping:
    value = row.get(name)
    return value if isinstance(value, Mapping) else {}


def _label(row: Mapping, category: str) -> int | None:
    """The 0/1 label of ``category`` in ``row``, None if unlabelled (absent or null)."""
    value = _field(row, "labels").get(category)
    if value is None:
        return None
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    raise InputError(f"row {row['id']!r}: label of {category!r} must be 0 or 1, got {value!r}")


def _probability(row: Mapping, category: str) -> float | None:
    value = _field(row, "probabilities").get(category)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _flag(row: Mapping, category: str) -> bool | None:
    value = _field(row, "flagged").get(category)
    return value if isinstance(value, bool) else None


def _labelled(rows: Mapping[str, dict], ids: list[str]) -> set[str]:
    return {c for i in ids for c, v in _field(rows[i], "labels").items() if v is not None}


# --- the comparison -------------------------------------------------------------------------------


def _compare_category(category: str, ids: list[str], rows_a: Mapping[str, dict], rows_b: Mapping[str, dict],
                      n_boot: int, seed: int) -> dict:
    y: list[int] = []
    scored: list[tuple[int, float, float]] = []
    flags: list[tuple[int, bool, bool]] = []
    for i in ids:
        la, lb = _label(rows_a[i], category), _label(rows_b[i], category)
        if la is None or lb is None:
            continue
        if la != lb:
            raise InputError(f"id {i!r}: label of {category!r} is {la} in A but {lb} in B; "
                             "the runs were not made on the same data")
        y.append(la)
        pa, pb = _probability(rows_a[i], category), _probability(rows_b[i], category)
        if pa is not None and pb is not None:
            scored.append((la, pa, pb))
        fa, fb = _flag(rows_a[i], category), _flag(rows_b[i], category)
        if fa is not None and fb is not None:
            flags.append((la, fa, fb))

    out: dict[str, Any] = {"n": len(y), "positives": int(sum(y)), "n_scored": len(scored), "n_flagged": len(flags)}
    s = np.array(scored, dtype=np.float64).reshape(-1, 3)
    for name, metric in SCORE_METRICS.items():
        out[name] = paired_bootstrap_delta(metric, s[:, 0].astype(np.int64), s[:, 1], s[:, 2],
                                           n_boot=n_boot, seed=seed)
    f = np.array(flags, dtype=bool).reshape(-1, 3)
    label, flag_a, flag_b = f[:, 0], f[:, 1], f[:, 2]
    for name, metric in FLAG_METRICS.items():
        out[name] = paired_bootstrap_delta(metric, label, flag_a, flag_b, n_boot=n_boot, seed=seed)
    out["mcnemar"] = mcnemar(flag_a == label, flag_b == label)
    out["flag_flips"] = {
        "unflagged->flagged": int(np.sum(~flag_a & flag_b)),
        "flagged->unflagged": int(np.sum(flag_a & ~flag_b)),
    }
    return out


def _actions(ids: list[str], rows_a: Mapping[str, dict], rows_b: Mapping[str, dict]) -> dict:
    pairs = [(rows_a[i].get("action"), rows_b[i].get("action")) for i in ids]
    pairs = [(a, b) for a, b in pairs if isinstance(a, str) and isinstance(b, str)]
    transitions = Counter(f"{a}->{b}" for a, b in pairs if a != b)
    return {"rows": len(pairs), "changed": sum(transitions.values()), "transitions": dict(transitions)}


def _clean(x: Any) -> Any:
    """``x`` with numpy scalars made Python ones, non-finite floats made None, dict keys sorted."""
    if isinstance(x, Mapping):
        return {str(k): _clean(x[k]) for k in sorted(x, key=str)}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def compare_runs(dir_a: str | Path, dir_b: str | Path, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Compare two ``safety eval`` report folders, A (baseline) and B (candidate), row by row.

    Rows are matched by id; only ids present in both runs are compared (``ids`` counts the
    common ones and those only in A / only in B). For every category labelled in both runs:
    ``n`` (rows labelled on both sides), ``positives``, paired-bootstrap deltas ``B - A`` with CIs
    for ``auroc`` and ``average_precision`` (on the ``n_scored`` rows with a probability on both
    sides) and ``precision``/``recall``/``f1`` (on the ``n_flagged`` rows with a flag on both
    sides), ``mcnemar`` on per-row flag correctness (``flagged == label``) and ``flag_flips``.
    ``actions`` counts rows whose action changed, by ``"from->to"``. ``a``/``b`` carry each
    run's row count and, when ``summary.json`` is present, its ``policy`` and ``model_bundle``.

    Raises :class:`InputError` when a folder lacks ``predictions.jsonl`` or the two runs disagree
    on a label of a common row. The result has sorted keys, no numpy types and ``None`` for NaN.
    """
    rows_a, rows_b = load_predictions(dir_a), load_predictions(dir_b)
    common = sorted(rows_a.keys() & rows_b.keys())
    labelled_a, labelled_b = _labelled(rows_a, common), _labelled(rows_b, common)
    categories = {
        c: _compare_category(c, common, rows_a, rows_b, n_boot, seed)
        for c in sorted(labelled_a & labelled_b)
    }
    result = {
        "a": _run_info(dir_a, len(rows_a)),
        "b": _run_info(dir_b, len(rows_b)),
        "ids": {"common": len(common), "only_a": len(rows_a.keys() - rows_b.keys()),
                "only_b": len(rows_b.keys() - rows_a.keys())},
        "unpaired_categories": {"a": sorted(labelled_a - labelled_b), "b": sorted(labelled_b - labelled_a)},
        "categories": categories,
        "actions": _actions(common, rows_a, rows_b),
        "bootstrap": {"n_boot": n_boot, "seed": seed, "alpha": 0.05},
    }
    return _clean(result)


def to_json(comparison: Mapping) -> str:
    """``comparison`` as indented JSON with sorted keys (NaN rejected: clean it first)."""
    return json.dumps(_clean(comparison), indent=2, sort_keys=True, allow_nan=False) + "\n"
