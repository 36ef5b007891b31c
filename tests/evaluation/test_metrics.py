from __future__ import annotations

import math

import numpy as np
import pytest

from safety.evaluation.metrics import (
    auroc,
    average_precision,
    bootstrap_ci,
    expected_calibration_error,
    false_negative_rate,
    false_positive_rate,
    precision_recall_f1,
    reliability_curve,
    selection_rate,
)

# --- hand-computed values on tiny data -------------------------------------------------------


def test_auroc_by_hand():
    # positives score {0.35, 0.8}, negatives {0.1, 0.4}; pairs (pos > neg):
    # 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes  ->  3 / 4 = 0.75
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_auroc_ties_count_half():
    # positives {0.2, 0.9}, negatives {0.2, 0.1}:
    # 0.2 vs 0.2 tie = 0.5, 0.2 > 0.1 = 1, 0.9 beats both = 2  ->  3.5 / 4 = 0.875
    assert auroc([0, 1, 0, 1], [0.2, 0.2, 0.1, 0.9]) == pytest.approx(0.875)
    # all scores equal -> every pair a tie -> 0.5
    assert auroc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)


def test_auroc_perfect_inverse_and_one_class():
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert math.isnan(auroc([1, 1, 1], [0.1, 0.5, 0.9]))
    assert math.isnan(auroc([0, 0], [0.1, 0.5]))
    assert auroc(np.array([False, True]), np.array([0.0, 1.0])) == 1.0


def test_average_precision_by_hand():
    # ranked by score: 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg)
    # cut after 1: P=1/1, R=1/2;  after 2: P=1/2, R=1/2;  after 3: P=2/3, R=2/2;  after 4: P=2/4, R=1
    # AP = (0.5-0)*1 + (0.5-0.5)*0.5 + (1-0.5)*2/3 + (1-1)*0.5 = 0.5 + 1/3 = 0.8333...
    assert average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5 + 1 / 3)
    assert math.isnan(average_precision([0, 0, 0], [0.1, 0.2, 0.3]))


def test_average_precision_tied_scores_are_one_threshold():
    # all four tied: a single cut with P = 2/4, R = 1  ->  AP = 1 * 0.5
    assert average_precision([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)


def test_confusion_rates_by_hand():
    y_true = [1, 1, 1, 0, 0, 0]
    y_pred = [1, 0, 0, 1, 0, 0]
    # tp = 1 (row 0), fn = 2 (rows 1, 2), fp = 1 (row 3), tn = 2 (rows 4, 5)
    p, r, f1 = precision_recall_f1(y_true, y_pred)
    assert p == pytest.approx(1 / 2)  # tp / (tp + fp) = 1 / 2
    assert r == pytest.approx(1 / 3)  # tp / (tp + fn) = 1 / 3
    assert f1 == pytest.approx(0.4)  # 2 * (1/2 * 1/3) / (1/2 + 1/3) = (1/3) / (5/6) = 0.4
    assert false_positive_rate(y_true, y_pred) == pytest.approx(1 / 3)  # fp / (fp + tn) = 1 / 3
    assert false_negative_rate(y_true, y_pred) == pytest.approx(2 / 3)  # fn / (fn + tp) = 2 / 3
    assert selection_rate(y_true, y_pred) == pytest.approx(2 / 6)  # 2 predicted positive of 6


def test_empty_denominators():
    assert precision_recall_f1([1, 0], [0, 0]) == (0.0, 0.0, 0.0)
    assert math.isnan(false_positive_rate([1, 1], [1, 0]))  # no negatives
    assert math.isnan(false_negative_rate([0, 0], [1, 0]))  # no positives
    assert math.isnan(selection_rate([], []))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="binary"):
        auroc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="lengths"):
        false_positive_rate([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error([0, 1], [0.5, 1.5])
    with pytest.raises(ValueError, match="finite"):
        auroc([0, 1], [0.5, float("nan")])
    with pytest.raises(ValueError, match="strategy"):
        expected_calibration_error([0, 1], [0.2, 0.7], strategy="kmeans")


def test_ece_and_reliability_by_hand():
    y_true = [0, 1, 1, 1]
    y_prob = [0.1, 0.2, 0.8, 0.9]
    # 2 uniform bins, [0, 0.5] and (0.5, 1]:
    # bin 0: probs {0.1, 0.2} mean 0.15, labels {0, 1} frac 0.5  -> weight 2/4 * |0.15 - 0.5| = 0.175
    # bin 1: probs {0.8, 0.9} mean 0.85, labels {1, 1} frac 1.0  -> weight 2/4 * |0.85 - 1.0| = 0.075
    # ECE = 0.175 + 0.075 = 0.25
    assert expected_calibration_error(y_true, y_prob, n_bins=2) == pytest.approx(0.25)
    mean_pred, frac_pos, count = reliability_curve(y_true, y_prob, n_bins=2)
    np.testing.assert_allclose(mean_pred, [0.15, 0.85])
    np.testing.assert_allclose(frac_pos, [0.5, 1.0])
    np.testing.assert_array_equal(count, [2, 2])


def test_reliability_curve_keeps_empty_bins():
    # 4 bins of width 0.25; nothing falls in (0.25, 0.5] or (0.5, 0.75]
    mean_pred, frac_pos, count = reliability_curve([0, 1, 1], [0.1, 0.9, 1.0], n_bins=4)
    np.testing.assert_array_equal(count, [1, 0, 0, 2])
    assert np.isnan(mean_pred[1:3]).all() and np.isnan(frac_pos[1:3]).all()
    np.testing.assert_allclose(mean_pred[[0, 3]], [0.1, 0.95])
    np.testing.assert_allclose(frac_pos[[0, 3]], [0.0, 1.0])


def test_ece_of_perfectly_calibrated_data_is_near_zero():
    rng = np.random.default_rng(7)
    p = rng.random(200_000)
    y = (rng.random(p.size) < p).astype(int)  # y ~ Bernoulli(p): calibrated by construction
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, p, strategy="quantile") < 0.01


def test_ece_of_badly_calibrated_data_is_known():
    # a constant 0.9 on data with exactly 30% positives: one bin, |0.9 - 0.3| = 0.6
    y = np.array([1] * 30 + [0] * 70)
    assert expected_calibration_error(y, np.full(100, 0.9)) == pytest.approx(0.6)
    # y ~ Bernoulli(p) but the model reports q = p**2 (under-confident everywhere, q <= p):
    # no cancellation inside a bin, so ECE -> E[p - p**2] = 1/2 - 1/3 = 1/6
    rng = np.random.default_rng(11)
    p = rng.random(200_000)
    y = (rng.random(p.size) < p).astype(int)
    assert expected_calibration_error(y, p**2) == pytest.approx(1 / 6, abs=0.01)


def test_bootstrap_ci_contains_point_estimate_and_is_deterministic():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    s = rng.random(400) + 0.6 * y
    point = auroc(y, s)
    low, high = bootstrap_ci(auroc, y, s, n_boot=300, seed=5)
    assert low < point < high
    assert 0.0 < high - low < 0.2
    assert bootstrap_ci(auroc, y, s, n_boot=300, seed=5) == (low, high)
    low90, high90 = bootstrap_ci(auroc, y, s, n_boot=300, seed=5, alpha=0.10)
    assert low <= low90 and high90 <= high


def test_bootstrap_resamples_rows_paired():
    # the same row indices are drawn for every array, so identical arrays stay identical
    a = np.arange(50)
    assert bootstrap_ci(lambda x, y: float(np.array_equal(x, y)), a, a.copy(), n_boot=50) == (1.0, 1.0)


def test_bootstrap_skips_undefined_resamples():
    # one positive in 20 rows: many resamples have no positive and AUROC is nan there
    y = np.zeros(20, dtype=int)
    y[0] = 1
    s = np.linspace(0, 1, 20)
    low, high = bootstrap_ci(auroc, y, s, n_boot=200)
    assert 0.0 <= low <= high <= 1.0
    # one class only: every resample undefined -> (nan, nan)
    assert all(math.isnan(v) for v in bootstrap_ci(auroc, np.zeros(5, dtype=int), np.ones(5), n_boot=20))


# --- cross-checks against scikit-learn and fairlearn on random data --------------------------


@pytest.fixture(scope="module")
def random_data():
    rng = np.random.default_rng(1234)
    n = 600
    y = rng.integers(0, 2, n)
    score = np.clip(rng.normal(0.4 + 0.25 * y, 0.2), 0.0, 1.0)
    tied = np.round(score, 1)  # many ties
    pred = (score >= 0.5).astype(int)
    return y, score, tied, pred


def test_matches_sklearn(random_data):
    sk = pytest.importorskip("sklearn.metrics")
    y, score, tied, pred = random_data
    for s in (score, tied):
        assert auroc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
        assert average_precision(y, s) == pytest.approx(sk.average_precision_score(y, s), abs=1e-12)
    p, r, f1, _ = sk.precision_recall_fscore_support(y, pred, average="binary")
    assert precision_recall_f1(y, pred) == pytest.approx((p, r, f1), abs=1e-12)


def test_reliability_curve_matches_sklearn(random_data):
    calibration = pytest.importorskip("sklearn.calibration")
    y, score, _, _ = random_data
    for strategy in ("uniform", "quantile"):
        prob_true, prob_pred = calibration.calibration_curve(y, score, n_bins=10, strategy=strategy)
        mean_pred, frac_pos, count = reliability_curve(y, score, n_bins=10, strategy=strategy)
        nonempty = count > 0
        np.testing.assert_allclose(mean_pred[nonempty], prob_pred)
        np.testing.assert_allclose(frac_pos[nonempty], prob_true)
        assert count.sum() == len(y)


def test_matches_fairlearn(random_data):
    fm = pytest.importorskip("fairlearn.metrics")
    y, _, _, pred = random_data
    assert false_positive_rate(y, pred) == pytest.approx(fm.false_positive_rate(y, pred), abs=1e-12)
    assert false_negative_rate(y, pred) == pytest.approx(fm.false_negative_rate(y, pred), abs=1e-12)
    assert selection_rate(y, pred) == pytest.approx(fm.selection_rate(y, pred), abs=1e-12)


def test_recall_at_fpr_never_exceeds_the_false_positive_budget():
    from safety.evaluation.metrics import recall_at_fpr

    negatives = np.arange(20, dtype=float)  # 0..19
    positives = np.array([18.5, 19.5, 25.0, 3.0])
    y = np.r_[np.zeros(20), np.ones(4)]
    recall, threshold = recall_at_fpr(y, np.r_[negatives, positives], 0.05)
    assert threshold == 18.0 and recall == 0.75  # one negative (19) may pass: 5% of 20
    recall, threshold = recall_at_fpr(y, np.r_[negatives, positives], 0.0)
    assert threshold == 19.0 and recall == 0.5
    assert np.isnan(recall_at_fpr(np.zeros(3), np.arange(3.0), 0.1)[0])
