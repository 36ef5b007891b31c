"""The primary text detector, on the committed artifact (models/minilm_toxicity)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from safety.artifacts import load_artifact, models_dir, write_manifest
from safety.detectors.protocol import predict_one
from safety.detectors.text.minilm import MiniLMToxicityDetector
from safety.errors import ArtifactIntegrityError
from safety.taxonomy import Category

#: The detector's own operating point (policies judge the combiner's probability, not this score).
REVIEW = 0.5

# Head logits of the committed artifact (order: toxicity, severe_toxicity, insult, threat,
# identity_attack, obscene), recorded when it was trained. Guards preprocessing, pooling, the
# tuned-layer loading and the heads against silent change.
GOLDEN_LOGITS = {
    'you are a stupid idiot': [7.059, -1.032, 4.86, -4.528, -2.366, 2.736],
    'have a lovely day': [-8.672, -9.348, -8.115, -9.289, -11.784, -7.496],
    'Muslims are vermin and should be deported': [7.766, -5.266, -2.352, -6.536, 6.901, -2.996],
    'I will kill you': [5.887, 7.146, -1.281, 7.527, -2.568, -2.544],
}


def test_golden_logits_of_the_committed_artifact(detector):
    got = detector.logits(list(GOLDEN_LOGITS))
    np.testing.assert_allclose(got, np.array(list(GOLDEN_LOGITS.values())), atol=2e-3)


@pytest.fixture(scope="module")
def detector() -> MiniLMToxicityDetector:
    return MiniLMToxicityDetector.load()


def flagged(detection) -> bool:
    """Any category at the detector's own operating point (the policies judge the combiner's
    probability, which recalibrates these scores)."""
    return any(score >= REVIEW for score in detection.scores.values())


def test_scores_every_text_category_as_probabilities(detector):
    detection = predict_one(detector, "you are a stupid idiot")
    assert set(detection.scores) == set(detector.labels)
    assert all(0.0 <= s <= 1.0 for s in detection.scores.values())
    assert detection.scores[Category.INSULT] >= REVIEW and detection.scores[Category.TOXICITY] >= REVIEW


def test_batch_equals_single_and_is_deterministic(detector):
    texts = ["have a lovely day", "you are a stupid idiot", "I will hurt you", "Muslims are my neighbours"]
    batch = detector.predict_batch(texts)
    for text, detection in zip(texts, batch):
        single = predict_one(detector, text)
        for category in detector.labels:
            assert single.scores[category] == pytest.approx(detection.scores[category], abs=1e-5)


@pytest.mark.parametrize("text", ["Scunthorpe", "assassin", "cocktail", "I live in Scunthorpe.",
                                  "Assassin's Creed is on sale.", "One cocktail, please."])
def test_scunthorpe_words_stay_clean(detector, text):
    assert not flagged(predict_one(detector, text)), text


def test_obfuscation_is_seen_through_and_reported(detector):
    plain = predict_one(detector, "you are an idiot")
    hidden = predict_one(detector, "you are an 1d10t")
    assert flagged(plain) and flagged(hidden)
    assert "leet" in hidden.transforms
    assert hidden.unnormalized_scores is not None
    assert hidden.scores[Category.INSULT] > hidden.unnormalized_scores[Category.INSULT]
    assert plain.transforms == () and plain.unnormalized_scores is None


def test_long_text_is_scored_by_windows(detector):
    filler = "The committee reviewed the budget and agreed to meet again next month. " * 40
    text = filler + "You are a worthless idiot and everyone hates you. " + filler
    rows, owners = detector.encoder.windows([text])
    assert len(rows) > 3 and set(owners) == {0}
    assert flagged(predict_one(detector, text))
    assert not flagged(predict_one(detector, filler + filler))


def test_flagged_texts_get_spans_on_the_abusive_words(detector):
    text = "thanks for the help, you stupid idiot"
    detection = predict_one(detector, text)
    assert detection.spans
    words = {text[s.start : s.end].lower() for s in detection.spans}
    assert words & {"stupid", "idiot"}
    assert all(0 <= s.start < s.end <= len(text) for s in detection.spans)
    assert predict_one(detector, "have a lovely day").spans == ()


def test_encoder_files_are_integrity_checked(tmp_path):
    copy = tmp_path / "minilm_toxicity"
    shutil.copytree(models_dir() / "minilm_toxicity", copy)
    config = json.loads((copy / "config.json").read_text())
    config["encoder"]["files"]["model.safetensors"] = "0" * 64
    (copy / "config.json").write_text(json.dumps(config))
    manifest = json.loads((copy / "manifest.json").read_text())
    write_manifest(copy, name="minilm_toxicity", version=manifest["version"], files=list(manifest["files"]))
    with pytest.raises(ArtifactIntegrityError, match="does not match"):
        MiniLMToxicityDetector.load(load_artifact("minilm_toxicity", root=tmp_path))


def test_calibrated_probabilities_are_monotone_in_the_logit(detector):
    z = np.linspace(-8, 8, 200)
    probs = detector.calibrate(np.tile(z[:, None], (1, len(detector.labels))))
    assert np.all(np.diff(probs, axis=0) >= -1e-12)
