"""The MiniLM encoders in ONNX Runtime (``safety.detectors.text.onnx_runtime``) against torch.

Measured on the reference machine: the detector's calibrated probabilities within 6e-7 of torch's
on the texts below, its head logits within 1e-4; the sentence encoder's embeddings within 2e-7.
The bounds leave margin for other CPUs' kernels.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from safety.detectors import ort
from safety.detectors.crossmodal.embedding import SentenceEncoder
from safety.detectors.registry import Registry
from safety.detectors.text import onnx_runtime
from safety.detectors.text.minilm import MiniLMToxicityDetector
from safety.errors import ConfigurationError, ModelError
from safety.taxonomy import Category, Channel

from tests.detectors.test_minilm import GOLDEN_LOGITS

TEXTS = [*GOLDEN_LOGITS, "u r a f*cking 1d10t", "", "word " * 400]  # obfuscated; empty; several windows
PROBABILITY_TOLERANCE = 1e-5
LOGIT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def torch_detector() -> MiniLMToxicityDetector:
    return MiniLMToxicityDetector.load()


@pytest.fixture(scope="module")
def ort_detector(cache) -> MiniLMToxicityDetector:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETY_CACHE_DIR", str(cache))
        return MiniLMToxicityDetector.load(runtime="onnxruntime")


def test_the_ort_detector_matches_torch(torch_detector, ort_detector):
    assert ort_detector.encoder.hidden_states.runtime == "onnxruntime"
    assert ort_detector.info.id == torch_detector.info.id  # the same model: only the runtime differs
    assert ort_detector.info.version == f"{torch_detector.info.version}+onnxruntime@{onnxruntime.__version__}"
    np.testing.assert_allclose(ort_detector.logits(list(GOLDEN_LOGITS)), np.array(list(GOLDEN_LOGITS.values())),
                               atol=2e-3)
    np.testing.assert_allclose(ort_detector.logits(TEXTS), torch_detector.logits(TEXTS), atol=LOGIT_TOLERANCE)
    for ours, theirs in zip(ort_detector.predict_batch(TEXTS), torch_detector.predict_batch(TEXTS), strict=True):
        assert ours.transforms == theirs.transforms
        assert set(ours.scores) == set(theirs.scores)
        for category, score in ours.scores.items():
            assert score == pytest.approx(theirs.scores[category], abs=PROBABILITY_TOLERANCE)
    # spans by occlusion run through the same backend
    assert ort_detector.explain("you are a stupid idiot", Category.INSULT) == \
        torch_detector.explain("you are a stupid idiot", Category.INSULT)


def test_the_graph_is_cached_under_a_key_and_stale_keys_are_pruned(cache, ort_detector, monkeypatch):
    ort.wait_for_cache_writes()
    folder = cache / "onnx"
    graphs = sorted(p.name for p in folder.glob("minilm_toxicity-*.onnx"))
    assert len(graphs) == 1
    meta = json.loads((folder / graphs[0].replace(".onnx", ".json")).read_text())
    assert meta["quantize"] is None and meta["check_at_export"] <= onnx_runtime.TOLERANCE[None]
    assert any(w.startswith("minilm_toxicity@") for w in meta["weights"])
    stale = folder / f"minilm_toxicity-{'0' * 24}.onnx"
    stale.write_bytes(b"old")
    unrelated = folder / "notes-minilm_toxicity.txt"
    unrelated.write_text("kept")
    monkeypatch.setenv("SAFETY_CACHE_DIR", str(cache))
    exports = []
    real = onnx_runtime.export
    monkeypatch.setattr(onnx_runtime, "export", lambda *a, **k: exports.append(1) or real(*a, **k))
    MiniLMToxicityDetector.load(runtime="onnxruntime", explain=False)
    assert exports == []  # served from the cache
    (folder / graphs[0]).write_bytes(b"damaged")
    MiniLMToxicityDetector.load(runtime="onnxruntime", explain=False)
    assert exports == [1]  # the damaged graph failed its sha256 and was exported again...
    ort.wait_for_cache_writes()
    assert not stale.exists() and unrelated.exists()  # ...and the other key's graph was pruned
    assert sorted(p.name for p in folder.glob("minilm_toxicity-*.onnx")) == graphs


def test_the_int8_graph_is_quantized(torch_detector):
    graph = onnx.load_from_string(onnx_runtime.export(torch_detector.encoder.model, torch_detector.encoder.tokenizer,
                                                       quantize="int8"))
    ops = [node.op_type for node in graph.graph.node]
    assert "MatMulInteger" in ops and "DynamicQuantizeLinear" in ops
    # every weight matrix went to int8: no float MatMul against an initializer is left
    initializers = {i.name for i in graph.graph.initializer}
    assert not [n for n in graph.graph.node if n.op_type == "MatMul" and any(i in initializers for i in n.input)]


def test_a_bad_export_is_refused_not_used(cache, torch_detector, monkeypatch):
    monkeypatch.setattr(onnx_runtime, "difference", lambda *a, **k: 0.5)
    with pytest.raises(ModelError, match="differs from torch"):
        onnx_runtime.hidden_states(torch_detector.encoder.model, torch_detector.encoder.tokenizer, name="broken",
                                   weights=["x"], directory=cache / "other")
    assert not list((cache / "other").glob("*.onnx")) if (cache / "other").exists() else True


def test_option_errors_are_configuration_errors(monkeypatch):
    with pytest.raises(ConfigurationError, match="unknown runtime"):
        MiniLMToxicityDetector.load(runtime="tensorrt")
    with pytest.raises(ConfigurationError, match="unknown runtime"):
        SentenceEncoder(runtime="tensorrt")
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # as if it were not installed
    with pytest.raises(ConfigurationError, match="pip install onnx=="):
        MiniLMToxicityDetector.load(runtime="onnxruntime")


def test_the_sentence_encoder_matches_torch(cache, monkeypatch):
    monkeypatch.setenv("SAFETY_CACHE_DIR", str(cache))
    ours, theirs = SentenceEncoder(runtime="onnxruntime"), SentenceEncoder()
    assert ours.hidden_states.runtime == "onnxruntime" and theirs.hidden_states.runtime == "torch"
    texts = ["a photo of a knife", "have a lovely day", "x" * 3000]  # the last is truncated to 128 tokens
    a, b = ours.encode(texts), theirs.encode(texts)
    assert a.shape == b.shape == (3, 384) and float((a - b).abs().max()) <= 1e-5
    assert torch.allclose(a.norm(dim=1), torch.ones(3), atol=1e-5)


def test_the_default_bundle_runs_both_encoders_in_onnxruntime():
    from safety.pipeline import Moderator

    moderator = Moderator(cache_size=0)
    registry = moderator.registry
    assert registry.spec("minilm-toxicity-ort").options == {"runtime": "onnxruntime", "explain": False}
    result = moderator.moderate(text="you are a stupid idiot")
    text = result.channels[Channel.TEXT]
    assert text.model_id == "minilm-toxicity" and text.model_version.endswith(ort.runtime_version())
    assert result.flagged and text.spans  # spans on demand (the bundle's explain_text)
    assert registry.detector("conse-cross-modal-ort").embedder.sentences.hidden_states.runtime == "onnxruntime"
    assert Registry.default().bundle("offline-default").detectors[Channel.TEXT] == "minilm-toxicity-ort"
