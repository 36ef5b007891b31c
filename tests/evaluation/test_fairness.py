from __future__ import annotations

import math

import numpy as np
import pytest

from safety.evaluation.fairness import (
    bias_auc_table,
    bnsp_auc,
    bpsn_auc,
    final_bias_score,
    generalized_mean,
    per_group_rates,
    subgroup_auc,
)
from safety.evaluation.metrics import auroc

# Eight rows: four mention the subgroup (g = 1), four do not.
#   row  g  y  score
#    0   1  0  0.70   <- a benign subgroup row scored high (the "mentions the group" bias)
#    1   1  0  0.30
#    2   1  1  0.80
#    3   1  1  0.60
#    4   0  0  0.10
#    5   0  0  0.20
#    6   0  1  0.65
#    7   0  1  0.90
G = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
Y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
S = np.array([0.70, 0.30, 0.80, 0.60, 0.10, 0.20, 0.65, 0.90])


def test_subgroup_auc_by_hand():
    # subgroup positives {0.8, 0.6} vs subgroup negatives {0.7, 0.3}:
    # 0.8>0.7 yes, 0.8>0.3 yes, 0.6>0.7 no, 0.6>0.3 yes  ->  3/4
    assert subgroup_auc(Y, S, G) == pytest.approx(0.75)


def test_bpsn_auc_by_hand():
    # background positives {0.65, 0.9} vs subgroup negatives {0.7, 0.3}:
    # 0.65>0.7 no, 0.65>0.3 yes, 0.9>0.7 yes, 0.9>0.3 yes  ->  3/4
    assert bpsn_auc(Y, S, G) == pytest.approx(0.75)


def test_bnsp_auc_by_hand():
    # subgroup positives {0.8, 0.6} vs background negatives {0.1, 0.2}: all four pairs won -> 1
    assert bnsp_auc(Y, S, G) == pytest.approx(1.0)


def test_complement_group_by_hand():
    other = ~G
    # subgroup (other): positives {0.65, 0.9} vs negatives {0.1, 0.2} -> 4/4
    assert subgroup_auc(Y, S, other) == pytest.approx(1.0)
    # BPSN: background (= G) positives {0.8, 0.6} vs other's negatives {0.1, 0.2} -> 4/4
    assert bpsn_auc(Y, S, other) == pytest.approx(1.0)
    # BNSP: other's positives {0.65, 0.9} vs background negatives {0.7, 0.3}:
    # 0.65>0.7 no, 0.65>0.3 yes, 0.9 wins both -> 3/4
    assert bnsp_auc(Y, S, other) == pytest.approx(0.75)


def test_undefined_subgroup_metrics_are_nan():
    only_negatives = np.array([1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)  # rows 0, 1: y = 0, 0
    assert math.isnan(subgroup_auc(Y, S, only_negatives))
    assert not math.isnan(bpsn_auc(Y, S, only_negatives))
    assert math.isnan(bnsp_auc(Y, S, only_negatives))  # no subgroup positive


def test_generalized_mean_by_hand():
    # p = 1: arithmetic (1 + 0.5) / 2 = 0.75
    assert generalized_mean([1.0, 0.5], p=1) == pytest.approx(0.75)
    # p = -1: harmonic ((1^-1 + 0.5^-1) / 2)^-1 = (3/2)^-1 = 2/3
    assert generalized_mean([1.0, 0.5], p=-1) == pytest.approx(2 / 3)
    # p = -5: ((1^-5 + 0.5^-5) / 2)^(-1/5) = ((1 + 32) / 2)^(-0.2) = 16.5^(-0.2) = 0.570825...
    assert generalized_mean([1.0, 0.5], p=-5) == pytest.approx(0.5708252968172411)
    # p = 0: geometric sqrt(1 * 0.25) = 0.5
    assert generalized_mean([1.0, 0.25], p=0) == pytest.approx(0.5)
    # nan ignored, zero dominates a negative power, all-nan is nan
    assert generalized_mean([0.8, float("nan")], p=-5) == pytest.approx(0.8)
    assert generalized_mean([0.9, 0.0], p=-5) == 0.0
    assert math.isnan(generalized_mean([float("nan")]))
    with pytest.raises(ValueError):
        generalized_mean([-0.1, 0.5])


def test_bias_auc_table_and_final_score_by_hand():
    table = bias_auc_table(Y, S, {"group": G, "other": ~G})
    assert list(table) == ["group", "other"]
    assert table["group"] == pytest.approx({"subgroup_auc": 0.75, "bpsn_auc": 0.75, "bnsp_auc": 1.0, "n": 4})
    assert table["other"] == pytest.approx({"subgroup_auc": 1.0, "bpsn_auc": 1.0, "bnsp_auc": 0.75, "n": 4})
    # overall: positives {0.8, 0.6, 0.65, 0.9} vs negatives {0.7, 0.3, 0.1, 0.2}
    # wins: 0.8 -> 4, 0.6 -> 3, 0.65 -> 3, 0.9 -> 4  ->  14/16 = 0.875
    overall = auroc(Y, S)
    assert overall == pytest.approx(0.875)
    # every bias metric has values {0.75, 1.0}; with p = -1 each mean is
    # 2 / (1/0.75 + 1/1) = 2 / (7/3) = 6/7, so score = 0.25 * 0.875 + 3 * 0.25 * 6/7 = 0.861607...
    assert final_bias_score(overall, table, p=-1) == pytest.approx(0.25 * 0.875 + 0.75 * 6 / 7)
    # p = -5: each mean is ((0.75^-5 + 1) / 2)^(-1/5) = ((4.21399 + 1) / 2)^(-0.2) = 0.825604...
    # score = 0.25 * 0.875 + 0.75 * 0.825604 = 0.837953...
    assert final_bias_score(overall, table) == pytest.approx(0.8379532031117483)


def test_final_bias_score_of_a_perfect_model_is_one():
    table = {g: {"subgroup_auc": 1.0, "bpsn_auc": 1.0, "bnsp_auc": 1.0, "n": 10} for g in "abc"}
    assert final_bias_score(1.0, table) == pytest.approx(1.0)


def test_per_group_rates_by_hand():
    pred = (S >= 0.5).astype(int)  # [1, 0, 1, 1, 0, 0, 1, 1]
    rates = per_group_rates(Y, pred, {"group": G, "other": ~G})
    # group: y [0, 0, 1, 1], pred [1, 0, 1, 1] -> fp 1 of 2 negatives, fn 0 of 2, 3 of 4 selected
    assert rates["group"] == pytest.approx({"fpr": 0.5, "fnr": 0.0, "selection_rate": 0.75, "n": 4})
    # other: y [0, 0, 1, 1], pred [0, 0, 1, 1] -> no errors, 2 of 4 selected
    assert rates["other"] == pytest.approx({"fpr": 0.0, "fnr": 0.0, "selection_rate": 0.5, "n": 4})
    benign_only = np.array([1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    assert math.isnan(per_group_rates(Y, pred, {"b": benign_only})["b"]["fnr"])


# --- cross-checks on random data at a fixed seed ---------------------------------------------


@pytest.fixture(scope="module")
def random_groups():
    rng = np.random.default_rng(2019)
    n = 800
    y = rng.integers(0, 2, n)
    group = rng.choice(["a", "b", "c", "d"], size=n)
    # a biased scorer: rows of group "a" get a bump regardless of label
    score = np.clip(rng.normal(0.35 + 0.3 * y + 0.15 * (group == "a"), 0.15), 0, 1)
    pred = (score >= 0.5).astype(int)
    masks = {g: group == g for g in ("a", "b", "c", "d")}
    return y, score, pred, group, masks


def test_bias_aucs_match_sklearn_on_explicit_subsets(random_groups):
    sk = pytest.importorskip("sklearn.metrics")
    y, score, _, _, masks = random_groups
    table = bias_auc_table(y, score, masks)
    for name, g in masks.items():
        assert table[name]["subgroup_auc"] == pytest.approx(sk.roc_auc_score(y[g], score[g]))
        bpsn = (g & (y == 0)) | (~g & (y == 1))
        assert table[name]["bpsn_auc"] == pytest.approx(sk.roc_auc_score(y[bpsn], score[bpsn]))
        bnsp = (g & (y == 1)) | (~g & (y == 0))
        assert table[name]["bnsp_auc"] == pytest.approx(sk.roc_auc_score(y[bnsp], score[bnsp]))
        assert table[name]["n"] == int(g.sum())
    # the bumped group shows the false-positive bias: BPSN below BNSP, and below the other groups'
    assert table["a"]["bpsn_auc"] < table["a"]["bnsp_auc"]
    assert table["a"]["bpsn_auc"] < min(table[g]["bpsn_auc"] for g in "bcd")


def test_per_group_rates_match_fairlearn_metricframe(random_groups):
    fm = pytest.importorskip("fairlearn.metrics")
    y, _, pred, group, masks = random_groups
    frame = fm.MetricFrame(
        metrics={
            "fpr": fm.false_positive_rate,
            "fnr": fm.false_negative_rate,
            "selection_rate": fm.selection_rate,
            "n": fm.count,
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=group,
    )
    by_group = frame.by_group
    rates = per_group_rates(y, pred, masks)
    for name in masks:
        for metric in ("fpr", "fnr", "selection_rate", "n"):
            assert rates[name][metric] == pytest.approx(float(by_group.loc[name, metric]), abs=1e-12)
