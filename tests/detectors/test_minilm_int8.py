"""The int8 fast path of the text detector (``MiniLMToxicityDetector.load(quantize="int8")``), in
both runtimes (torch's dynamic quantization; onnxruntime's quantizer on the exported graph), and
its registry entries. Accuracy and speed against fp32 are measured by bench/compress_text.py."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear

from safety.detectors.protocol import Detection, predict_one
from safety.detectors.registry import Registry
from safety.detectors.text.minilm import MiniLMToxicityDetector
from safety.taxonomy import Category, Channel

#: Clear-cut texts (the golden texts of test_minilm.py and a benign one). Measured int8 - fp32
#: differences on them: at most 0.023 in calibrated probability and 0.9 in head logit in torch,
#: 0.047 and 1.1 in onnxruntime (borderline texts move more: see bench/results/compress_text.json).
CLEAR_TEXTS = ["you are a stupid idiot", "have a lovely day", "Muslims are vermin and should be deported",
               "I will kill you", "Thanks for fixing the references in this article, it reads much better now."]
PROBABILITY_TOLERANCE = 0.08
LOGIT_TOLERANCE = 1.5


@pytest.fixture(scope="module")
def fp32() -> MiniLMToxicityDetector:
    return MiniLMToxicityDetector.load()


@pytest.fixture(scope="module", params=["torch", "onnxruntime"])
def int8(request) -> MiniLMToxicityDetector:
    return MiniLMToxicityDetector.load(quantize="int8", runtime=request.param)


def test_int8_detector_says_what_it_is(fp32, int8):
    assert int8.info.id == "minilm-toxicity-int8" != fp32.info.id
    runtime = int8.encoder.hidden_states.runtime
    suffix = "" if runtime == "torch" else f"+onnxruntime@{onnxruntime.__version__}"
    assert int8.info.version == f"{fp32.info.version}+int8{suffix}"
    assert int8.info.sha256 == fp32.info.sha256  # the same artifact, checked the same way
    assert int8.info.label_map == fp32.info.label_map and int8.labels == fp32.labels


def test_every_encoder_linear_layer_is_quantized_and_the_heads_are_not():
    """torch's quantized modules (the onnxruntime graph is checked in test_minilm_ort.py)."""
    int8 = MiniLMToxicityDetector.load(quantize="int8", explain=False)
    kinds = (nn.Linear, QuantizedLinear)
    encoder_linears = [m for m in int8.encoder.model.modules() if isinstance(m, kinds)]
    assert encoder_linears and all(isinstance(m, QuantizedLinear) for m in encoder_linears)
    head_linears = [m for m in int8.heads.modules() if isinstance(m, kinds)]
    assert head_linears and all(type(m) is nn.Linear for m in head_linears)


def test_same_schema_as_fp32(fp32, int8):
    texts = ["you are a stupid idiot", "have a lovely day", "you are an 1d10t"]
    for ours, reference in zip(int8.predict_batch(texts), fp32.predict_batch(texts), strict=True):
        assert isinstance(ours, Detection)
        assert set(ours.scores) == set(reference.scores) == set(fp32.labels)
        assert set(ours.raw_scores) == set(reference.raw_scores)
        assert all(0.0 <= s <= 1.0 for s in ours.scores.values())
    spans = int8.explain("you are a stupid idiot", Category.INSULT)
    assert spans and all(span.category is Category.INSULT for span in spans)
    hidden = predict_one(int8, "you are an 1d10t")
    assert "leet" in hidden.transforms and hidden.unnormalized_scores is not None


def test_scores_close_to_fp32_on_clear_texts(fp32, int8):
    np.testing.assert_allclose(int8.logits(CLEAR_TEXTS), fp32.logits(CLEAR_TEXTS), atol=LOGIT_TOLERANCE)
    np.testing.assert_allclose(int8.predict_proba(CLEAR_TEXTS), fp32.predict_proba(CLEAR_TEXTS),
                               atol=PROBABILITY_TOLERANCE)
    for text in CLEAR_TEXTS:  # and the same verdict at the detector's own operating point
        ours, reference = predict_one(int8, text), predict_one(fp32, text)
        assert {c for c, s in ours.scores.items() if s >= 0.5} == {c for c, s in reference.scores.items() if s >= 0.5}


def test_int8_is_deterministic_per_input_but_depends_slightly_on_the_batch(int8):
    """Activations are quantized with one scale per call over the whole batch, so a text's int8
    score moves a little with its batch mates (fp32: within 1e-5); repeating a call repeats it."""
    first = predict_one(int8, "I will kill you")
    assert predict_one(int8, "I will kill you").scores == first.scores
    in_batch = int8.predict_batch(CLEAR_TEXTS)[CLEAR_TEXTS.index("I will kill you")]
    for category in int8.labels:
        assert in_batch.scores[category] == pytest.approx(first.scores[category], abs=PROBABILITY_TOLERANCE)


def test_unknown_quantization_is_refused():
    with pytest.raises(ValueError, match="int4"):
        MiniLMToxicityDetector.load(quantize="int4")


def test_registry_entries_and_the_offline_int8_bundle():
    registry = Registry.default()
    assert registry.spec("minilm-toxicity-int8").options == {"runtime": "onnxruntime", "quantize": "int8",
                                                              "explain": False}
    bundle = registry.bundle("offline-int8")
    default = registry.bundle("offline-default")
    assert bundle.detectors == {**default.detectors, Channel.TEXT: "minilm-toxicity-int8"}
    assert bundle.auxiliary == default.auxiliary and bundle.explain_text
    assert bundle.combiner is None  # the combiner was fitted on the fp32 detector's scores
    assert registry.bundle_digest(bundle) != registry.bundle_digest(default)


def test_offline_int8_bundle_moderates_text():
    from safety.pipeline import Moderator

    result = Moderator(bundle="offline-int8").moderate(text="you are a stupid idiot")
    text = result.channels[Channel.TEXT]
    assert text.model_id == "minilm-toxicity-int8" and "+int8+onnxruntime@" in text.model_version
    assert text.spans and set(text.auxiliary) == {"jigsaw-bilstm"}
    assert result.model_bundle.id == "offline-int8" and result.flagged
    assert result.categories[Category.TOXICITY].method == "max"
