"""Threshold fitting for the shipped policies: the pure choice on hand-checked data, and the
shipped policy files agree with what the recipe wrote."""

from __future__ import annotations

import numpy as np
import pytest

from safety.policy import get_policy, load_policy_file
from safety.taxonomy import Category
from safety.training.fit_policy import MARKER, SHIPPED, at_thresholds, choose_thresholds, policy_block

#            p: 0.9 0.8 0.7 0.6 0.5 0.4 0.3 0.2 0.1 0.05
Y = np.array([1, 1, 1, 0, 1, 0, 1, 0, 0, 0])
P = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])


def test_block_is_the_lowest_threshold_reaching_the_precision():
    # precision at >= 0.7: 3/3; at >= 0.6: 3/4; at >= 0.5: 4/5; at >= 0.3: 5/7
    chosen = choose_thresholds(Y, P, block_precision=0.8, review_recall=1.0, min_flagged=1)
    assert chosen["block"] == 0.5 and chosen["block_reachable"]
    # review: the highest threshold keeping recall 1.0 (all 5 positives) is 0.3, capped at block
    assert chosen["review"] == 0.3
    assert chosen["validation"]["block"] == {"precision": 0.8, "recall": 0.8, "flagged": 5}


def test_min_flagged_and_unreachable_precision():
    assert choose_thresholds(Y, P, block_precision=1.0, review_recall=0.5, min_flagged=3)["block"] == 0.7
    chosen = choose_thresholds(Y, P, block_precision=1.0, review_recall=0.5, min_flagged=4)
    assert chosen["block"] == 1.0 and not chosen["block_reachable"]


def test_review_is_capped_at_block_and_raised_to_the_precision_floor():
    chosen = choose_thresholds(Y, P, block_precision=0.75, review_recall=0.6, min_flagged=1)
    assert chosen["block"] == 0.5 and chosen["review"] == 0.5  # recall 0.6 allows 0.7, capped at 0.5
    floored = choose_thresholds(Y, P, block_precision=1.0, review_recall=1.0, review_precision=0.8, min_flagged=1)
    # recall 1.0 needs 0.3 (precision 5/7); the floor 0.8 is first reached at 0.5
    assert floored["review"] == 0.5 and not floored["review_recall_met"]


def test_precision_at_a_stated_prevalence_reweights_the_classes():
    # data prevalence 0.5; at prevalence 0.1 a negative weighs 9x a positive relative to the data
    y, p = np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.7, 0.1])
    at = at_thresholds(y, p, review=0.7, block=0.8, prevalence=0.1)
    assert at["review"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    # tp 2 * (0.1/0.5) = 0.4, fp 1 * (0.9/0.5) = 1.8 -> 0.4 / 2.2
    assert at["review"]["precision_at_prevalence"] == pytest.approx(0.4 / 2.2, abs=1e-4)
    assert at["block"]["precision_at_prevalence"] == 1.0


def test_recall_must_hold_in_every_source():
    y = np.array([1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0])
    p = np.array([0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.4, 0.4, 0.4, 0.4, 0.95, 0.05])
    groups = np.array(["a"] * 6 + ["b"] * 6)
    pooled = choose_thresholds(y, p, block_precision=1.0, review_recall=0.6, min_flagged=20)
    per_source = choose_thresholds(y, p, block_precision=1.0, review_recall=0.6, min_flagged=20, groups=groups,
                                   min_group_positives=2)
    assert pooled["review"] == 0.9  # 6 of 10 positives pooled, but only 1 of 5 in source b
    assert per_source["review"] == 0.4 and per_source["groups"] == ["a", "b"]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        choose_thresholds([0, 0], [0.1, 0.2], block_precision=0.9, review_recall=0.9)
    with pytest.raises(ValueError):
        choose_thresholds([0, 1], [0.1], block_precision=0.9, review_recall=0.9)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policies_carry_their_fitted_sections_and_targets(name):
    policy = get_policy(name)
    assert policy.targets is not None
    from importlib import resources

    text = (resources.files("safety.policies") / f"{name}.toml").read_text()
    assert text.count(MARKER) == 1
    for category in ("toxicity", "identity_attack", "weapons"):
        assert f"[categories.{category}]" in text.split(MARKER)[1]
        assert Category(category) in policy.categories


def test_the_written_block_is_a_valid_policy_tail(tmp_path):
    entry = {"review": 0.3, "block": 0.8, "block_reachable": True, "review_recall_met": False, "groups": ["x"],
             "validation": at_thresholds(Y, P, review=0.3, block=0.8), "test": at_thresholds(Y, P, review=0.3, block=0.8)}
    path = tmp_path / "p.toml"
    path.write_text('name = "p"\nversion = "1"\n[defaults]\nreview = 0.5\nblock = 0.9\n'
                    + policy_block({"weapons": entry}, untouched=["sexual"]))
    policy = load_policy_file(path)
    assert policy.thresholds(Category.WEAPONS).review == 0.3 and policy.thresholds(Category.SEXUAL).review == 0.5
