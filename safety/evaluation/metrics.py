"""Pure evaluation metrics for binary labels: ``f(y_true, y_score_or_pred, ...) -> float``.

Every function takes array-likes (converted with numpy), never mutates them, and depends on numpy
only (scikit-learn and fairlearn are used in the tests as references, not here). Conventions:

- ``y_true`` is binary: 0/1 integers, floats or booleans; anything else raises ``ValueError``.
- ``y_pred`` is a binary decision; ``y_score`` any real score where higher means "more positive";
  ``y_prob`` a probability in [0, 1].
- A rate whose denominator is empty (FPR with no negatives, AUROC with one class, ...) is
  ``nan``, not 0: an undefined number must not pass a bar by accident. (fairlearn returns 0.0
  for an empty-denominator FPR/FNR; scikit-learn returns 0.0 for precision with no predicted
  positives. ``precision_recall_f1`` follows scikit-learn there, see its docstring.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "auroc",
    "average_precision",
    "precision_recall_f1",
    "false_positive_rate",
    "false_negative_rate",
    "selection_rate",
    "recall_at_fpr",
    "expected_calibration_error",
    "reliability_curve",
    "bootstrap_ci",
]

BinStrategy = Literal["uniform", "quantile"]


def _binary(y: ArrayLike, name: str) -> NDArray[np.bool_]:
    """``y`` as a 1-d boolean array; raises unless every value is 0 or 1."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must be binary (0/1 or bool), got values {np.unique(arr)[:5]}")
    return arr.astype(bool)


def _real(y: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite")
    return arr


def _same_length(*arrays: np.ndarray) -> None:
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"arrays have different lengths: {sorted(lengths)}")


def _average_ranks(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks of ``x``, ties sharing the mean of the ranks they span."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)  # the highest rank in each tie group
    return (upper - (counts - 1) / 2.0)[inverse]


def auroc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve (probability a random positive outscores a random negative).

    Ties count one half (Mann-Whitney U with average ranks), as in
    ``sklearn.metrics.roc_auc_score``. Returns ``nan`` when ``y_true`` holds only one class
    (where scikit-learn raises).
    """
    y = _binary(y_true, "y_true")
    s = _real(y_score, "y_score")
    _same_length(y, s)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(s)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def average_precision(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Average precision: ``sum_n (R_n - R_{n-1}) * P_n`` over the distinct score thresholds.

    The step-wise (non-interpolated) area under the precision-recall curve, identical to
    ``sklearn.metrics.average_precision_score``. Returns ``nan`` when there is no positive.
    """
    y = _binary(y_true, "y_true")
    s = _real(y_score, "y_score")
    _same_length(y, s)
    if not y.any():
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    # the last index of every run of equal scores: one threshold per distinct score
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]
    tps = np.cumsum(y_sorted)[last]
    predicted = last + 1
    precision = tps / predicted
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _confusion(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[int, int, int, int]:
    """(tp, fp, tn, fn) for binary labels and predictions."""
    y = _binary(y_true, "y_true")
    p = _binary(y_pred, "y_pred")
    _same_length(y, p)
    tp = int(np.sum(y & p))
    fp = int(np.sum(~y & p))
    tn = int(np.sum(~y & ~p))
    fn = int(np.sum(y & ~p))
    return tp, fp, tn, fn


def precision_recall_f1(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[float, float, float]:
    """Precision, recall and F1 of the positive class.

    An empty denominator gives 0.0 (scikit-learn's ``zero_division`` default): precision with no
    predicted positive, recall with no actual positive, F1 when precision + recall is 0.
    """
    tp, fp, _, fn = _confusion(y_true, y_pred)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def false_positive_rate(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """FP / (FP + TN): the share of actual negatives flagged. ``nan`` with no negative."""
    _, fp, tn, _ = _confusion(y_true, y_pred)
    return fp / (fp + tn) if fp + tn else float("nan")


def false_negative_rate(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """FN / (FN + TP): the share of actual positives missed. ``nan`` with no positive."""
    tp, _, _, fn = _confusion(y_true, y_pred)
    return fn / (fn + tp) if fn + tp else float("nan")


def recall_at_fpr(y_true: ArrayLike, y_score: ArrayLike, max_fpr: float) -> tuple[float, float]:
    """The recall of the rule ``score > t`` for the lowest threshold ``t`` that flags at most
    ``max_fpr`` of the negatives, and that threshold. ``(nan, nan)`` without both classes."""
    y = _binary(y_true, "y_true")
    s = _real(y_score, "y_score")
    _same_length(y, s)
    negatives, positives = np.sort(s[~y]), s[y]
    if not len(negatives) or not len(positives):
        return float("nan"), float("nan")
    allowed = int(np.floor(max_fpr * len(negatives) + 1e-9))
    threshold = float(negatives[len(negatives) - allowed - 1])
    return float((positives > threshold).mean()), threshold


def selection_rate(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The share of rows predicted positive (``y_true`` is only checked, as in fairlearn).

    ``nan`` for empty input.
    """
    tp, fp, tn, fn = _confusion(y_true, y_pred)
    n = tp + fp + tn + fn
    return (tp + fp) / n if n else float("nan")


def _bins(y_prob: NDArray[np.float64], n_bins: int, strategy: BinStrategy) -> NDArray[np.intp]:
    """The bin index (0 .. n_bins-1) of each probability.

    Bins are right-closed, ``(e_{k}, e_{k+1}]``, the first also holding its left edge: the same
    assignment as ``sklearn.calibration.calibration_curve``. ``"uniform"``: equal-width bins on
    [0, 1]; ``"quantile"``: edges at the quantiles of ``y_prob`` (equal counts, up to ties;
    duplicate edges leave empty bins).
    """
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.quantile(y_prob, np.linspace(0.0, 1.0, n_bins + 1))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    return np.searchsorted(edges[1:-1], y_prob)


def _probabilities(y_true: ArrayLike, y_prob: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y = _binary(y_true, "y_true").astype(np.float64)
    p = _real(y_prob, "y_prob")
    _same_length(y, p)
    if p.size and (p.min() < 0.0 or p.max() > 1.0):
        raise ValueError("y_prob must lie in [0, 1]")
    return y, p


def reliability_curve(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Per-bin mean predicted probability, fraction of positives and row count.

    All three arrays have length ``n_bins`` (unlike ``calibration_curve``, empty bins are kept:
    their count is 0 and their two means are ``nan``), so bins line up across models.
    """
    y, p = _probabilities(y_true, y_prob)
    ids = _bins(p, n_bins, strategy)
    count = np.bincount(ids, minlength=n_bins)
    sum_pred = np.bincount(ids, weights=p, minlength=n_bins)
    sum_true = np.bincount(ids, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.where(count > 0, sum_pred / count, np.nan)
        frac_pos = np.where(count > 0, sum_true / count, np.nan)
    return mean_pred, frac_pos, count.astype(np.int64)


def expected_calibration_error(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
) -> float:
    """ECE = sum over bins of (n_b / N) * |mean predicted prob_b - fraction positive_b|.

    Binning as in :func:`reliability_curve`. ``nan`` for empty input.
    """
    y, p = _probabilities(y_true, y_prob)
    if p.size == 0:
        return float("nan")
    ids = _bins(p, n_bins, strategy)
    sum_pred = np.bincount(ids, weights=p, minlength=n_bins)
    sum_true = np.bincount(ids, weights=y, minlength=n_bins)
    # (n_b / N) * |sum_pred_b / n_b - sum_true_b / n_b| = |sum_pred_b - sum_true_b| / N
    return float(np.abs(sum_pred - sum_true).sum() / p.size)


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays: ArrayLike,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap ``(1 - alpha)`` confidence interval of ``metric(*arrays)``.

    Rows are resampled with replacement and the same row indices are used for every array
    (paired), e.g. ``bootstrap_ci(auroc, y_true, y_score)``. Resamples where the metric is not
    finite (an AUROC draw with one class) are dropped; ``(nan, nan)`` if none is finite.
    Deterministic for a given ``seed``.
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array")
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    arrs = [np.asarray(a) for a in arrays]
    _same_length(*arrs)
    n = len(arrs[0])
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot, dtype=np.float64)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        stats[b] = metric(*(a[idx] for a in arrs))
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(stats, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)
