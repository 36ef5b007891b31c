"""The evaluation harness: hand-computed fairness figures, fairlearn's own functions, and a whole
run on a fake moderator (bad rows kept, summary deterministic, report written)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from safety.evaluation.dataset import load_rows
from safety.evaluation.harness import evaluate, fairness_metrics, summarize
from safety.policy import get_policy
from safety.detectors.protocol import DetectorKind
from tests import fakes
from tests.conftest import fake_moderator, png_bytes, spec

# Two groups of 6 rows each. Group a: labels 1 1 0 0 0 0, flags 1 0 1 0 0 0.
# Group b: labels 1 1 1 0 0 0, flags 1 1 1 1 1 0.
Y = np.array([1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0])
FLAG = np.array([1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0], dtype=bool)
P = np.where(FLAG, 0.8, 0.2) + np.linspace(0, 0.01, 12)
GROUPS = [("a",)] * 6 + [("b",)] * 6


def test_group_rates_match_hand_computed_values():
    result = fairness_metrics(Y, P, FLAG, GROUPS)
    a, b = result["groups"]["a"], result["groups"]["b"]
    assert (a["selection_rate"], a["fpr"], a["fnr"]) == pytest.approx((2 / 6, 1 / 4, 1 / 2))
    assert (b["selection_rate"], b["fpr"], b["fnr"]) == pytest.approx((5 / 6, 2 / 3, 0.0))
    assert result["demographic_parity_difference"] == pytest.approx(5 / 6 - 2 / 6)
    # TPR a 1/2, b 1 -> 0.5; FPR a 1/4, b 2/3 -> 5/12; equalized odds takes the larger
    assert result["equalized_odds_difference"] == pytest.approx(0.5)
    lo, hi = a["ci95"]["selection_rate"]
    assert lo <= 2 / 6 <= hi


def test_fairness_agrees_with_fairlearn():
    fl = pytest.importorskip("fairlearn.metrics", reason="fairlearn is a dev dependency")
    sensitive = [g[0] for g in GROUPS]
    ours = fairness_metrics(Y, P, FLAG, GROUPS)
    assert ours["demographic_parity_difference"] == pytest.approx(
        fl.demographic_parity_difference(Y, FLAG, sensitive_features=sensitive))
    assert ours["equalized_odds_difference"] == pytest.approx(
        fl.equalized_odds_difference(Y, FLAG, sensitive_features=sensitive))
    frame = fl.MetricFrame(metrics={"sel": fl.selection_rate, "fpr": fl.false_positive_rate,
                                    "fnr": fl.false_negative_rate}, y_true=Y, y_pred=FLAG, sensitive_features=sensitive)
    for group in ("a", "b"):
        for ours_key, theirs_key in (("selection_rate", "sel"), ("fpr", "fpr"), ("fnr", "fnr")):
            assert ours["groups"][group][ours_key] == pytest.approx(frame.by_group.loc[group, theirs_key])


def test_intersections_and_small_groups():
    groups = [("a", "x")] * 3 + [("a",)] * 3 + [("b",)] * 6
    result = fairness_metrics(Y, P, FLAG, groups)
    assert set(result["intersections"]) == {"a&x"} and result["intersections"]["a&x"]["n"] == 3
    assert result["groups"]["x"]["n"] == 3  # reported, but below MIN_GROUP_ROWS: not in the differences
    assert result["demographic_parity_difference"] == pytest.approx(5 / 6 - 2 / 6)


def rows_file(tmp_path):
    (tmp_path / "red.png").write_bytes(png_bytes())
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    rows = [{"id": f"t{i}", "text": ("you idiot" if i % 2 else "hello there"), "labels": {"insult": i % 2},
             "groups": ["g1" if i < 6 else "g2"]} for i in range(12)]
    rows += [{"id": "img", "image": "red.png", "label": "benign"}, {"id": "bad", "image": "broken.png", "label": "benign"}]
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_whole_run_keeps_bad_rows_and_is_deterministic(tmp_path):
    data = rows_file(tmp_path)
    moderator = fake_moderator(text=spec("kw", DetectorKind.TEXT, fakes.KeywordText),
                               image=spec("bright", DetectorKind.IMAGE, fakes.BrightImage))
    policy = get_policy("default")
    first = evaluate(data, tmp_path / "r1", moderator=moderator, policy=policy, rows=load_rows(data), progress=False)
    second = evaluate(data, tmp_path / "r2", moderator=moderator, policy=policy, rows=load_rows(data), progress=False)
    assert (tmp_path / "r1" / "summary.json").read_bytes() == (tmp_path / "r2" / "summary.json").read_bytes()
    assert first == second
    assert first["rows"] == 14 and first["moderated"] == 13 and first["errors"] == {"corrupt_image": 1}
    insult = first["categories"]["insult"]
    assert insult["n"] == 12 and insult["positives"] == 6 and insult["auroc"] == 1.0 and insult["f1"] == 1.0
    assert insult["confusion"] == {"tp": 6, "fp": 0, "tn": 6, "fn": 0}
    assert first["categories"]["weapons"]["n"] == 1  # the red image; the broken one is an error row
    predictions = [json.loads(line) for line in (tmp_path / "r1" / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == sorted(p["id"] for p in predictions)
    assert next(p for p in predictions if p["id"] == "bad")["error"] == "corrupt_image"
    html = (tmp_path / "r1" / "report.html").read_text()
    assert "<svg" in html and "insult" in html and "g1" in html
    assert json.loads((tmp_path / "r1" / "run.json").read_text())["rows_per_second"] > 0


def test_summarize_without_labels_for_a_category_leaves_it_out():
    summary = summarize([], [{"id": "1", "labels": {"toxicity": 1}, "groups": [], "probabilities": {"toxicity": None},
                              "flagged": {}, "action": "review", "error": None}], get_policy("default"))
    assert summary["categories"] == {} and summary["actions"]["review"] == 1
