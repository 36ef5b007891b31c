"""The combiner's composed set: deterministic, fit and test halves disjoint, nothing a channel
was trained on (../shared/data; skipped where it is absent)."""

from __future__ import annotations

import pytest

from safety.training import train_combiner as recipe
from safety.training.text_data import default_data_dir

pytestmark = pytest.mark.shared_data


def test_text_rows_come_from_the_text_models_val_and_test_splits():
    rows = recipe.text_rows(default_data_dir(), limit=30)
    assert rows == recipe.text_rows(default_data_dir(), limit=30)  # deterministic
    assert {r["half"] for r in rows} == {"fit", "test"} and len(rows) == 60
    fit, test = ({r["text"] for r in rows if r["half"] == h} for h in ("fit", "test"))
    assert not fit & test
    assert all(set(r["labels"]) == {"toxicity", "identity_attack"} for r in rows)
    assert all(r["labels"]["identity_attack"] <= r["labels"]["toxicity"] for r in rows)


def test_images_and_pairs_share_the_halves_and_only_use_the_eval_split():
    images = recipe.image_rows()
    pairs = recipe.pair_rows(limit=60)
    half_of = {r["image"]: r["half"] for r in images}
    assert all(half_of[p["image"]] == p["half"] for p in pairs)  # an image never straddles the halves
    assert len(images) == 469 and {r["half"] for r in images} == {"fit", "test"}
    unsafe_text = [p for p in pairs if p["kind"] == "pair:unsafe_text_benign_image"]
    assert unsafe_text and all(p["labels"] == {"weapons": 0, "toxicity": 1} for p in unsafe_text)
    over_weapons = [p for p in pairs if p["kind"] == "pair:benign_text_unsafe_image"]
    assert over_weapons and all(p["labels"] == {"weapons": 1, "toxicity": 0} for p in over_weapons)
