"""Unintended-bias metrics for a binary classifier across identity subgroups.

Follows Borkan et al. (2019), "Nuanced Metrics for Measuring Unintended Bias with Real Data for
Text Classification" and the Jigsaw Unintended Bias in Toxicity Classification metric:

- **subgroup AUC**: AUC on the rows that mention the subgroup only. Low: the model cannot
  separate toxic from non-toxic text about this group.
- **BPSN AUC** (background positive, subgroup negative): AUC on the non-toxic subgroup rows plus
  the toxic background rows. Low: non-toxic text mentioning the group scores higher than toxic
  text that does not ("mentions the group => toxic", the false-positive bias).
- **BNSP AUC** (background negative, subgroup positive): AUC on the toxic subgroup rows plus the
  non-toxic background rows. Low: toxic text about the group scores lower than benign background
  text (the false-negative bias).

``in_group`` is a boolean mask over the rows (a row may belong to several subgroups); the
background is its complement. All functions are pure and depend on numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from safety.evaluation.metrics import (
    _binary,
    _real,
    _same_length,
    auroc,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)

__all__ = [
    "subgroup_auc",
    "bpsn_auc",
    "bnsp_auc",
    "generalized_mean",
    "bias_auc_table",
    "final_bias_score",
    "per_group_rates",
    "BIAS_METRICS",
]

BIAS_METRICS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")


def _inputs(
    y_true: ArrayLike, y_score: ArrayLike, in_group: ArrayLike
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.bool_]]:
    y = _binary(y_true, "y_true")
    s = _real(y_score, "y_score")
    g = _binary(in_group, "in_group")
    _same_length(y, s, g)
    return y, s, g


def subgroup_auc(y_true: ArrayLike, y_score: ArrayLike, in_group: ArrayLike) -> float:
    """AUROC restricted to the rows in the subgroup. ``nan`` unless both classes occur there."""
    y, s, g = _inputs(y_true, y_score, in_group)
    return auroc(y[g], s[g])


def bpsn_auc(y_true: ArrayLike, y_score: ArrayLike, in_group: ArrayLike) -> float:
    """AUROC on background positives plus subgroup negatives (Borkan et al. 2019).

    ``nan`` when either set is empty.
    """
    y, s, g = _inputs(y_true, y_score, in_group)
    keep = (g & ~y) | (~g & y)
    return auroc(y[keep], s[keep])


def bnsp_auc(y_true: ArrayLike, y_score: ArrayLike, in_group: ArrayLike) -> float:
    """AUROC on background negatives plus subgroup positives (Borkan et al. 2019).

    ``nan`` when either set is empty.
    """
    y, s, g = _inputs(y_true, y_score, in_group)
    keep = (g & y) | (~g & ~y)
    return auroc(y[keep], s[keep])


def generalized_mean(values: ArrayLike, p: float = -5) -> float:
    """Power mean ``(mean(v ** p)) ** (1 / p)``; ``p = 0`` is the geometric mean.

    A negative ``p`` (the Jigsaw metric uses -5) pulls the mean towards the worst value. ``nan``
    entries are ignored; the result is ``nan`` when nothing is left. For ``p <= 0`` any zero
    makes the mean 0 (its limit). Values must be non-negative.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan")
    if (v < 0).any():
        raise ValueError("generalized_mean needs non-negative values")
    if p <= 0 and (v == 0).any():
        return 0.0
    if p == 0:
        return float(np.exp(np.mean(np.log(v))))
    return float(np.mean(v**p) ** (1.0 / p))


def bias_auc_table(
    y_true: ArrayLike,
    y_score: ArrayLike,
    groups: Mapping[str, ArrayLike],
) -> dict[str, dict[str, float | int]]:
    """For each subgroup mask: ``{"subgroup_auc", "bpsn_auc", "bnsp_auc", "n"}``.

    ``n`` is the number of rows in the subgroup. Keys keep the order of ``groups``.
    """
    table: dict[str, dict[str, float | int]] = {}
    for name, mask in groups.items():
        y, s, g = _inputs(y_true, y_score, mask)
        table[name] = {
            "subgroup_auc": subgroup_auc(y, s, g),
            "bpsn_auc": bpsn_auc(y, s, g),
            "bnsp_auc": bnsp_auc(y, s, g),
            "n": int(g.sum()),
        }
    return table


def final_bias_score(
    overall_auc: float,
    table: Mapping[str, Mapping[str, float | int]],
    *,
    p: float = -5,
    weight: float = 0.25,
) -> float:
    """The Jigsaw Unintended Bias competition score.

    ``weight * overall_auc + sum over m in (subgroup_auc, bpsn_auc, bnsp_auc) of
    weight * generalized_mean([table[g][m] for g in table], p)``. With the default weight 0.25
    on all four terms a perfect model scores 1.0. Subgroups whose AUC is ``nan`` (one class
    only) are left out of that metric's mean.
    """
    score = weight * float(overall_auc)
    for metric in BIAS_METRICS:
        score += weight * generalized_mean([row[metric] for row in table.values()], p)
    return float(score)


def per_group_rates(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: Mapping[str, ArrayLike],
) -> dict[str, dict[str, float | int]]:
    """For each subgroup mask: ``{"fpr", "fnr", "selection_rate", "n"}`` on its rows.

    A rate with an empty denominator is ``nan`` (e.g. the FNR of a group with only benign rows).
    """
    y = _binary(y_true, "y_true")
    pred = _binary(y_pred, "y_pred")
    _same_length(y, pred)
    rates: dict[str, dict[str, float | int]] = {}
    for name, mask in groups.items():
        g = _binary(mask, f"groups[{name!r}]")
        _same_length(y, g)
        rates[name] = {
            "fpr": false_positive_rate(y[g], pred[g]),
            "fnr": false_negative_rate(y[g], pred[g]),
            "selection_rate": selection_rate(y[g], pred[g]),
            "n": int(g.sum()),
        }
    return rates
