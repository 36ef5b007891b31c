from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from safety.errors import InputError
from safety.evaluation.compare import compare_runs, mcnemar, paired_bootstrap_delta, to_json
from safety.evaluation.metrics import auroc, precision_recall_f1

# --- McNemar -----------------------------------------------------------------------------------


def _pairs(b: int, c: int, both_right: int = 4, both_wrong: int = 2) -> tuple[list[bool], list[bool]]:
    """Paired correctness with b rows A-right/B-wrong and c rows A-wrong/B-right."""
    a = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    bb = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    return a, bb


def test_mcnemar_exact_by_hand():
    # b=3, c=9, n=12: P(X <= 3) = (1 + 12 + 66 + 220) / 2^12 = 299/4096; two-sided = 598/4096
    out = mcnemar(*_pairs(3, 9))
    assert out["a_only_correct"] == 3
    assert out["b_only_correct"] == 9
    assert out["method"] == "exact"
    assert out["statistic"] is None
    assert out["p_value"] == pytest.approx(598 / 4096)
    assert out["p_value"] == pytest.approx(0.146, abs=1e-3)
    assert out["p_value"] == pytest.approx(stats.binomtest(3, 12, 0.5).pvalue)


def test_mcnemar_chi2_by_hand():
    # b=10, c=30: (|10-30| - 1)^2 / 40 = 361/40 = 9.025; chi2(1) survival = erfc(sqrt(x/2))
    out = mcnemar(*_pairs(10, 30))
    assert out["method"] == "chi2"
    assert out["statistic"] == pytest.approx(9.025)
    assert out["p_value"] == pytest.approx(math.erfc(math.sqrt(9.025 / 2)))
    assert out["p_value"] == pytest.approx(0.002663, abs=1e-5)
    assert (out["a_only_correct"], out["b_only_correct"]) == (10, 30)


def test_mcnemar_switch_at_25_and_no_discordant():
    assert mcnemar(*_pairs(12, 12))["method"] == "exact"  # 24 discordant
    at25 = mcnemar(*_pairs(12, 13))
    assert at25["method"] == "chi2"
    assert at25["statistic"] == pytest.approx(0.0)  # (|12-13| - 1)^2 / 25
    assert at25["p_value"] == pytest.approx(1.0)
    none = mcnemar(*_pairs(0, 0))
    assert none == {"a_only_correct": 0, "b_only_correct": 0, "statistic": None, "p_value": 1.0, "method": "exact"}
    assert mcnemar([], [])["p_value"] == 1.0


def test_mcnemar_rejects_bad_input():
    with pytest.raises(ValueError):
        mcnemar([True, False], [True])
    with pytest.raises(ValueError):
        mcnemar([0, 2], [1, 1])


# --- paired bootstrap --------------------------------------------------------------------------

RNG = np.random.default_rng(7)
Y = np.array([0, 1] * 30)
NOISY = np.clip(Y * 0.2 + RNG.random(60) * 0.8, 0, 1)  # weakly informative
CLEAN = np.clip(Y * 0.6 + RNG.random(60) * 0.4, 0, 1)  # perfectly separating (pos >= 0.6 > neg)


def test_paired_bootstrap_point_values_and_clear_improvement():
    out = paired_bootstrap_delta(auroc, Y, NOISY, CLEAN, n_boot=300, seed=1)
    assert out["a"] == pytest.approx(auroc(Y, NOISY))
    assert out["b"] == 1.0
    assert out["delta"] == pytest.approx(1.0 - auroc(Y, NOISY))
    low, high = out["ci"]
    assert low <= out["delta"] <= high
    assert low > 0.0  # a clear improvement: the CI excludes 0


def test_paired_bootstrap_is_reproducible_and_seeded():
    first = paired_bootstrap_delta(auroc, Y, NOISY, CLEAN, n_boot=200, seed=3)
    again = paired_bootstrap_delta(auroc, Y, NOISY, CLEAN, n_boot=200, seed=3)
    other = paired_bootstrap_delta(auroc, Y, NOISY, CLEAN, n_boot=200, seed=4)
    assert first == again
    assert first["ci"] != other["ci"]


def test_paired_bootstrap_resamples_rows_jointly():
    # identical systems: with the same indices for a and b every draw's delta is exactly 0
    out = paired_bootstrap_delta(auroc, Y, NOISY, NOISY.copy(), n_boot=100, seed=0)
    assert out["delta"] == 0.0
    assert out["ci"] == [0.0, 0.0]


def test_paired_bootstrap_drops_undefined_draws_and_empty_input():
    # one positive in 4 rows: many resamples have one class (AUROC nan); those are dropped
    y = [0, 0, 0, 1]
    out = paired_bootstrap_delta(auroc, y, [0.5, 0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.9], n_boot=200, seed=0)
    assert out["a"] == pytest.approx(2 / 3) and out["b"] == 1.0
    assert all(math.isfinite(v) for v in out["ci"])
    empty = paired_bootstrap_delta(auroc, [], [], [], n_boot=10)
    assert math.isnan(empty["delta"]) and all(math.isnan(v) for v in empty["ci"])
    with pytest.raises(ValueError):
        paired_bootstrap_delta(auroc, [0, 1], [0.1, 0.2], [0.3], n_boot=10)


# --- compare_runs ------------------------------------------------------------------------------
#
#  id  tox label | A: prob flag action  | B: prob  flag action
#  r1      1     |   0.9   1    block   |   0.9   1    block
#  r2      1     |   0.4   0    allow   |   0.7   1    review   <- B fixes a miss
#  r3      1     |   0.8   1    block   |   0.8   1    block
#  r4      0     |   0.3   0    allow   |   0.2   0    allow
#  r5      0     |   0.6   1    review  |   0.3   0    allow    <- B fixes a false positive
#  r6      0     |   0.1   0    allow   |   null  0    allow    <- no B probability: not scored
#  r0 only in A; r7, r8 only in B. "weapons" is labelled only in A. "hate" is labelled on r1, r2
#  only (one class): its AUROC is undefined and must come out as None, not NaN.
A_ROWS = [
    ("r0", {"toxicity": 1}, 0.5, True, "block"),
    ("r1", {"toxicity": 1, "weapons": 0, "hate": 1}, 0.9, True, "block"),
    ("r2", {"toxicity": 1, "hate": 1}, 0.4, False, "allow"),
    ("r3", {"toxicity": 1}, 0.8, True, "block"),
    ("r4", {"toxicity": 0}, 0.3, False, "allow"),
    ("r5", {"toxicity": 0}, 0.6, True, "review"),
    ("r6", {"toxicity": 0}, 0.1, False, "allow"),
]
B_ROWS = [
    ("r1", {"toxicity": 1, "hate": 1}, 0.9, True, "block"),
    ("r2", {"toxicity": 1, "hate": 1}, 0.7, True, "review"),
    ("r3", {"toxicity": 1}, 0.8, True, "block"),
    ("r4", {"toxicity": 0}, 0.2, False, "allow"),
    ("r5", {"toxicity": 0}, 0.3, False, "allow"),
    ("r6", {"toxicity": 0}, None, False, "allow"),
    ("r7", {"toxicity": 0}, 0.2, False, "allow"),
    ("r8", {"toxicity": 1}, 0.9, True, "block"),
]


def _write(folder, rows, summary=None):
    folder.mkdir()
    with (folder / "predictions.jsonl").open("w", encoding="utf-8") as fh:
        for rid, labels, prob, flag, action in rows:
            cats = sorted(set(labels) | {"toxicity"})
            fh.write(json.dumps({
                "id": rid, "labels": labels, "groups": [],
                "probabilities": {c: prob for c in cats},
                "flagged": {c: flag for c in cats},
                "action": action,
            }) + "\n")
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


@pytest.fixture
def runs(tmp_path):
    summary = {"rows": 7, "policy": {"name": "default", "version": "3"},
               "model_bundle": {"id": "minilm-v1", "sha256": "ab" * 32}}
    return _write(tmp_path / "a", A_ROWS, summary), _write(tmp_path / "b", B_ROWS)


def test_compare_runs_counts_flips_and_deltas(runs):
    out = compare_runs(*runs, n_boot=200, seed=0)
    assert out["ids"] == {"common": 6, "only_a": 1, "only_b": 2}
    assert out["unpaired_categories"] == {"a": ["weapons"], "b": []}
    assert sorted(out["categories"]) == ["hate", "toxicity"]
    assert out["a"]["policy"] == {"name": "default", "version": "3"}
    assert out["a"]["model_bundle"]["id"] == "minilm-v1"
    assert out["b"]["policy"] is None and out["b"]["rows"] == 8

    tox = out["categories"]["toxicity"]
    assert (tox["n"], tox["positives"], tox["n_scored"], tox["n_flagged"]) == (6, 3, 5, 6)
    # flags: A right on r1 r3 r4 r6, wrong on r2 r5; B right everywhere -> b=0, c=2, exact p = 0.5
    assert tox["mcnemar"] == {"a_only_correct": 0, "b_only_correct": 2, "statistic": None,
                              "p_value": pytest.approx(0.5), "method": "exact"}
    assert tox["flag_flips"] == {"unflagged->flagged": 1, "flagged->unflagged": 1}
    # A: tp 2 (r1 r3), fp 1 (r5), fn 1 (r2) -> P = R = F1 = 2/3; B perfect
    for name in ("precision", "recall", "f1"):
        assert tox[name]["a"] == pytest.approx(2 / 3)
        assert tox[name]["b"] == 1.0
        assert tox[name]["delta"] == pytest.approx(1 / 3)
    # AUROC on r1..r5: A positives {.9 .4 .8} vs negatives {.3 .6}: 2 + 1 + 2 = 5 of 6; B = 1
    assert tox["auroc"]["a"] == pytest.approx(5 / 6)
    assert tox["auroc"]["delta"] == pytest.approx(1 / 6)
    # AP of A: ranks .9(+) .8(+) .6(-) .4(+) .3(-) -> (1 + 1 + 3/4) / 3 = 11/12
    assert tox["average_precision"]["a"] == pytest.approx(11 / 12)
    assert tox["average_precision"]["b"] == 1.0
    for name in ("auroc", "average_precision", "precision", "recall", "f1"):
        low, high = tox[name]["ci"]
        assert low <= tox[name]["delta"] <= high

    hate = out["categories"]["hate"]
    assert (hate["n"], hate["positives"]) == (2, 2)
    assert hate["auroc"]["a"] is None and hate["auroc"]["delta"] is None
    assert hate["auroc"]["ci"] == [None, None]

    assert out["actions"] == {"rows": 6, "changed": 2, "transitions": {"allow->review": 1, "review->allow": 1}}


def test_compare_runs_is_deterministic_and_json_clean(runs):
    first = compare_runs(*runs, n_boot=100, seed=5)
    again = compare_runs(*runs, n_boot=100, seed=5)
    assert first == again
    text = to_json(first)
    assert text == to_json(again)
    assert json.loads(text) == first  # allow_nan=False in to_json: no NaN anywhere
    assert list(first) == sorted(first)
    assert list(first["categories"]["toxicity"]) == sorted(first["categories"]["toxicity"])


def test_compare_runs_is_antisymmetric(runs):
    a, b = runs
    forward = compare_runs(a, b, n_boot=50)["categories"]["toxicity"]
    backward = compare_runs(b, a, n_boot=50)["categories"]["toxicity"]
    assert backward["f1"]["delta"] == pytest.approx(-forward["f1"]["delta"])
    assert backward["mcnemar"]["a_only_correct"] == forward["mcnemar"]["b_only_correct"]


def test_compare_runs_errors(tmp_path, runs):
    a, _ = runs
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="predictions.jsonl"):
        compare_runs(a, tmp_path / "empty")
    with pytest.raises(InputError, match="predictions.jsonl"):
        compare_runs(tmp_path / "nowhere", a)
    flipped = [(r[0], {"toxicity": 1 - r[1]["toxicity"]}, *r[2:]) for r in B_ROWS]
    other = _write(tmp_path / "c", flipped)
    with pytest.raises(InputError, match="label"):
        compare_runs(a, other, n_boot=10)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "predictions.jsonl").write_text('{"id": "x"}\n{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="duplicate"):
        compare_runs(a, bad)


def test_precision_helper_matches_metrics():
    # the flag metrics compared are exactly metrics.precision_recall_f1's
    y, a, b = [1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]
    out = paired_bootstrap_delta(lambda yy, pp: precision_recall_f1(yy, pp)[2], y, a, b, n_boot=20)
    assert out["a"] == pytest.approx(0.5) and out["b"] == 1.0
