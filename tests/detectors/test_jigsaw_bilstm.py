"""Parity of the torch port of the Jigsaw BiLSTM.

GOLDEN holds the scores of an independent step-by-step numpy LSTM run on the ORIGINAL Keras
weights (``model.weights.h5`` of toxic-comment-classifier 0.3.0), recorded by
``python -m safety.training.convert_jigsaw_bilstm`` (see the model card). The torch detector,
loaded from the committed safetensors, must reproduce them; the numpy reference run on the
committed weights must agree with torch as well.
"""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file

from safety.artifacts import load_artifact
from safety.detectors.protocol import predict_one
from safety.detectors.text.jigsaw_bilstm import JigsawBiLSTMDetector
from safety.detectors.text.keras_tokenizer import pad_pre, windows
from safety.taxonomy import Category
from safety.training import jigsaw_bilstm_numpy

LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
GOLDEN = {
    "you are a stupid idiot": [0.997236, 0.191414, 0.906473, 0.014693, 0.943426, 0.069475],
    "have a nice day": [0.04161, 0.000328, 0.012255, 0.000231, 0.013021, 0.001658],
    "have a lovely day": [0.032173, 0.000256, 0.00907, 0.00019, 0.010711, 0.001378],
    "I will kill you and your whole family": [0.807295, 0.109759, 0.241886, 0.234674, 0.461825, 0.159918],
    "what the fuck is wrong with you": [0.989721, 0.092787, 0.968678, 0.004516, 0.630446, 0.018997],
}


@pytest.fixture(scope="module")
def detector() -> JigsawBiLSTMDetector:
    return JigsawBiLSTMDetector.load()


@pytest.fixture(scope="module")
def keras_weights() -> dict[str, np.ndarray]:
    state = load_file(str(load_artifact("jigsaw_bilstm").file("model.safetensors")))
    return jigsaw_bilstm_numpy.keras_weights_from_torch_state(state)


def test_matches_golden_scores_from_the_original_keras_weights(detector):
    got = detector.predict_proba(list(GOLDEN)).numpy()
    np.testing.assert_allclose(got, np.array(list(GOLDEN.values())), atol=2e-6)


def test_torch_matches_numpy_reference_on_committed_weights(detector, keras_weights):
    texts = [*GOLDEN, "", "the the the", "Zzzqx unknownword", "a " * 99 + "idiot"]
    got = detector.predict_proba(texts).numpy()
    for text, row in zip(texts, got):
        ids = np.array(pad_pre(detector.tokenizer.encode(text), detector.maxlen))
        np.testing.assert_allclose(row, jigsaw_bilstm_numpy.forward(ids, keras_weights), atol=1e-5)


def test_long_text_is_the_max_over_windows(detector, keras_weights):
    rude = "you are a stupid idiot "
    calm = "thank you for the kind help with the article today "
    text = rude + calm * 30  # ~300 tokens; the insult sits at the start, outside Keras' last-100 view
    ids = detector.tokenizer.encode(text)
    assert len(ids) > 250
    expected = np.max([jigsaw_bilstm_numpy.forward(np.array(w), keras_weights) for w in windows(ids, 100, 50)], axis=0)
    got = detector.predict_proba([text]).numpy()[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    keras_view = jigsaw_bilstm_numpy.forward(np.array(pad_pre(ids, 100)), keras_weights)
    assert got[0] > 0.9 > keras_view[0], "windows must see the insult that truncation drops"


def test_each_head_is_its_own_category(detector):
    detection = predict_one(detector, "you are a stupid idiot")
    assert detection.scores[Category.TOXICITY] == pytest.approx(GOLDEN["you are a stupid idiot"][0], abs=1e-5)
    assert detection.scores[Category.INSULT] == pytest.approx(GOLDEN["you are a stupid idiot"][4], abs=1e-5)
    assert detection.scores[Category.IDENTITY_ATTACK] == pytest.approx(GOLDEN["you are a stupid idiot"][5], abs=1e-5)
    assert set(detection.raw_scores) == set(LABELS)
    assert set(detection.scores) == {Category.TOXICITY, Category.SEVERE_TOXICITY, Category.OBSCENE,
                                     Category.THREAT, Category.INSULT, Category.IDENTITY_ATTACK}


def test_batch_equals_single_and_keeps_order(detector):
    texts = list(GOLDEN)
    batch = detector.predict_batch(texts)
    for text, detection in zip(texts, batch):
        assert predict_one(detector, text).raw_scores == pytest.approx(detection.raw_scores, abs=1e-6)
    assert detector.predict_batch([]) == []


def test_info_reports_the_verified_artifact(detector):
    assert detector.info.id == "jigsaw-bilstm"
    assert detector.info.sha256 == load_artifact("jigsaw_bilstm").sha256
    assert detector.info.version.startswith("0.3.0")
