"""The calibrated combiner on synthetic data whose answer is known: sub-models per channel
pattern, interactions that a max-merge cannot express, calibration, sklearn conventions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from safety.combine import CalibratedCombiner, pattern_of
from safety.evaluation.metrics import expected_calibration_error, precision_recall_f1


def synthetic(n: int, seed: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Three patterns. ``weapons`` is true when the image shows one (image score informative) and,
    in text+image rows, also when a benign text sits over it and the pair mismatches: a case the
    image score alone ranks low (the weapon is small) but the mismatch signal reveals."""
    rng = np.random.default_rng(seed)
    rows, weapons, toxicity = [], [], []
    for i in range(n):
        kind = i % 3
        hidden = rng.random() < 0.3
        small = hidden and rng.random() < 0.5  # a small weapon: weak image evidence
        image = float(np.clip((0.25 if small else 0.8 if hidden else 0.1) + rng.normal(0, 0.12), 0, 1))
        tox = rng.random() < 0.3
        text = float(np.clip((0.8 if tox else 0.15) + rng.normal(0, 0.15), 0, 1))
        if kind == 0:
            rows.append({"text:toxicity": text})
            weapons.append(int(hidden))  # labelled, but no text channel scores weapons
        elif kind == 1:
            rows.append({"image:weapons": image})
            weapons.append(int(hidden))
        else:
            mismatch = float(np.clip((0.7 if hidden else 0.1) + rng.normal(0, 0.1), 0, 1))
            rows.append({"text:toxicity": text, "image:weapons": image, "cross_modal:mismatch": mismatch,
                         "cross_modal:match": float(np.clip(1 - mismatch + rng.normal(0, 0.05), 0, 1))})
            weapons.append(int(hidden))
        toxicity.append(int(tox) if kind != 1 else -1)
    return rows, {"weapons": np.asarray(weapons), "toxicity": np.asarray(toxicity)}


@pytest.fixture(scope="module")
def fitted():
    rows, labels = synthetic(1800, seed=0)
    return CalibratedCombiner(Cs=(1.0,)).fit(rows, labels)


def test_sklearn_conventions():
    combiner = CalibratedCombiner(Cs=(0.5, 2.0), cv=3)
    assert clone(combiner).get_params() == combiner.get_params()
    rows, labels = synthetic(300, seed=1)
    assert combiner.fit(rows, labels) is combiner
    assert all(name.endswith("_") for name in vars(combiner) if name not in combiner.get_params())


def test_one_sub_model_per_channel_pattern(fitted):
    assert set(fitted.models_["weapons"]) == {"image", "text+image+cross_modal"}
    assert "no channel in this pattern scores 'weapons'" in fitted.skipped_["weapons"]["text"]
    assert set(fitted.models_["toxicity"]) == {"text", "text+image+cross_modal"}
    assert pattern_of({"image:weapons": 0.2}) == "image"
    image_only = fitted.explain({"image:weapons": 0.9}, "weapons")
    assert image_only["model"] == "image" and set(image_only["contributions"]) == {"image"}


def test_the_combiner_beats_the_max_merge_where_channels_interact(fitted):
    rows, labels = synthetic(1500, seed=7)
    both = [i for i, r in enumerate(rows) if pattern_of(r) == "text+image+cross_modal"]
    y = labels["weapons"][both]
    combined = fitted.predict_proba([rows[i] for i in both])["weapons"]
    max_merge = np.asarray([rows[i]["image:weapons"] for i in both])
    f1_combined = precision_recall_f1(y, combined >= 0.5)[2]
    f1_best_single = max(precision_recall_f1(y, max_merge >= t)[2] for t in np.linspace(0.05, 0.95, 19))
    assert f1_combined > f1_best_single + 0.05
    assert expected_calibration_error(y, combined, n_bins=10) < 0.05


def test_contributions_name_the_channels_and_sum_to_the_logit(fitted):
    row = {"text:toxicity": 0.1, "image:weapons": 0.3, "cross_modal:mismatch": 0.8, "cross_modal:match": 0.2}
    explained = fitted.explain(row, "weapons")
    assert set(explained["contributions"]) == {"text", "image", "cross_modal"}
    assert sum(explained["contributions"].values()) + explained["intercept"] == pytest.approx(explained["logit"])
    assert explained["contributions"]["cross_modal"] > 0 and explained["probability"] > 0.5


def test_unseen_patterns_fall_back_to_the_max_and_say_so(fitted):
    out = fitted.explain({"text:weapons": 0.7, "image:weapons": 0.2}, "weapons")  # no such pattern in training
    assert out == {"probability": 0.7, "model": "max-fallback", "contributions": {}}
    assert np.isnan(fitted.explain({"text:toxicity": 0.4}, "weapons")["probability"])


def test_round_trip_through_json(fitted):
    state = json.loads(json.dumps(fitted.to_dict()))
    restored = CalibratedCombiner.from_dict(state)
    rows, _ = synthetic(90, seed=3)
    for category, values in fitted.predict_proba(rows).items():
        np.testing.assert_allclose(restored.predict_proba(rows)[category], values)


def test_label_length_is_checked():
    with pytest.raises(ValueError, match="entries for"):
        CalibratedCombiner().fit([{"text:toxicity": 0.1}], {"toxicity": [1, 0]})


def test_features_of_a_real_result(real_moderator, png):
    from safety.combine import features_of

    row = features_of(real_moderator.moderate(text="have a lovely day", image=png))
    assert pattern_of(row) == "text+image+cross_modal"
    assert {"text:toxicity", "image:weapons", "cross_modal:mismatch", "cross_modal:match"} <= set(row)
    assert pattern_of(features_of(real_moderator.moderate(image=png))) == "image"


def test_rows_with_extra_signals_still_line_up_with_the_sub_model(fitted):
    row = {"image:weapons": 0.9, "cross_modal:match": 0.3}  # pattern image+cross_modal: unseen
    assert fitted.explain(row, "weapons")["model"] == "max-fallback"
    rows = [{"text:toxicity": 0.2, "image:weapons": 0.6, "cross_modal:mismatch": 0.5, "cross_modal:match": 0.4,
             "cross_modal:extra": 0.1}]
    assert np.isfinite(fitted.predict_proba(rows)["weapons"]).all()  # extra keys are ignored


def test_a_single_channel_sub_model_only_recalibrates_its_own_score():
    rows, labels = synthetic(600, seed=4)
    rows = [{**r, "image:sexual": 0.5} if "image:weapons" in r and len(r) == 1 else r for r in rows]
    own = CalibratedCombiner(Cs=(1.0,)).fit(rows, labels)
    assert own.models_["weapons"]["image"]["features"] == ["image:weapons"]
    assert set(own.models_["weapons"]["text+image+cross_modal"]["features"]) > {"image:weapons", "text:toxicity"}
    grid = [{"image:weapons": s, "image:sexual": 0.5} for s in np.linspace(0.01, 0.99, 25)]
    assert np.all(np.diff(own.predict_proba(grid)["weapons"]) >= 0)  # monotone: the ranking is kept
    every = CalibratedCombiner(Cs=(1.0,), single_channel="all").fit(rows, labels)
    assert every.models_["weapons"]["image"]["features"] == ["image:sexual", "image:weapons"]
    with pytest.raises(ValueError, match="single_channel"):
        CalibratedCombiner(single_channel="some").fit(rows, labels)


def test_probabilities_enter_as_log_odds():
    from safety.combine import _value

    assert _value({"image:weapons": 0.5}, "image:weapons") == 0.0
    assert _value({"image:weapons": 0.9}, "image:weapons") == pytest.approx(np.log(9))
    assert np.isfinite(_value({"image:weapons": 1.0}, "image:weapons"))  # clipped, not infinite
    assert _value({"cross_modal:similarity": -0.3}, "cross_modal:similarity") == -0.3  # not a probability
