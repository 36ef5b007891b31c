"""The text training recipe end to end on a tiny data set (the real run is in the model card)."""

from __future__ import annotations

import csv
import json

import pytest

from safety.artifacts import load_artifact
from safety.detectors.text.minilm import MiniLMToxicityDetector
from safety.taxonomy import TEXT_CATEGORIES
from safety.training import text_data, train_text

TWEETS = [
    ("have a great day at work everyone", 0, 0, 3),
    ("the game last night was amazing", 0, 0, 3),
    ("this bitch is so annoying lol", 0, 3, 0),
    ("shut up you stupid hoe", 0, 3, 0),
    ("all of those people are trash and should leave", 3, 0, 0),
]


@pytest.fixture
def tiny_data(tmp_path):
    root = tmp_path / "data"
    (root / "davidson").mkdir(parents=True)
    (root / "toxigen").mkdir()
    with (root / "davidson" / "labeled_data.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"])
        for i in range(40):
            text, hate, offensive, neither = TWEETS[i % len(TWEETS)]
            klass = 0 if hate else 1 if offensive else 2
            writer.writerow([i, 3, hate, offensive, neither, klass, f"{text} #{i} &amp; @user{i}"])
    with (root / "toxigen" / "toxigen_sentences.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "target_group", "label"])
        for i in range(20):
            writer.writerow([f"statement number {i} about a group", "women", "hate" if i % 2 else "neutral"])
    return root


def test_recipe_writes_a_loadable_verified_artifact(tiny_data, tmp_path):
    out = tmp_path / "models" / "minilm_toxicity"
    assert train_text.main(["--data", str(tiny_data), "--out", str(out), "--layers", "1", "--epochs", "1",
                            "--limit", "64", "--max-offensive", "10"]) == 0
    artifact = load_artifact("minilm_toxicity", root=out.parent)
    assert set(artifact.files) == {"heads.safetensors", "config.json", "encoder_top.safetensors"}
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == [c.value for c in TEXT_CATEGORIES]
    assert config["tuned_layers"] == ["encoder.layer.5."]
    training = json.loads((out / "training.json").read_text())
    assert training["training_rows"] == 64 and set(training["calibration"]) == set(config["labels"])
    detector = MiniLMToxicityDetector.load(artifact)
    (detection,) = detector.predict_batch(["you are a stupid idiot"])
    assert set(detection.scores) == set(TEXT_CATEGORIES)
    assert all(0.0 <= s <= 1.0 for s in detection.scores.values())


def test_splits_are_a_pure_function_of_the_text():
    assert text_data.split_of("hello world", "davidson") == text_data.split_of("hello world", "davidson")
    splits = {text_data.split_of(f"tweet {i}", "davidson") for i in range(200)}
    assert splits == {"train", "val", "test"}
    assert text_data.clean_tweet("RT @bob: so &amp; so http://t.co/x") == "@user: so & so http"


def test_templates_cover_every_group_and_never_reach_held_out_splits():
    examples = text_data.template_examples()
    assert {e.split for e in examples} == {"train"}
    hateful = [e for e in examples if e.kind == "hateful"]
    assert len({e.groups[0] for e in hateful}) == len(text_data.text_templates.GROUPS)


def test_decontamination_drops_training_texts_found_in_evaluation_suites(tiny_data):
    everything = text_data.compose(tiny_data)
    key = text_data._key(everything[-1].text)
    assert len(text_data.compose(tiny_data, exclude={key})) < len(everything)
