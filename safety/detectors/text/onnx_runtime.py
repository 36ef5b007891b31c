"""The MiniLM text encoders in ONNX Runtime, in float32 or dynamic int8.

Both MiniLM encoders (the text channel's, with its fine-tuned top layers, and the cross-modal
check's untouched sentence encoder) hand their transformer forward pass to a
:class:`~safety.detectors.text.encoder.HiddenStates` backend. :class:`OrtHiddenStates` is that
backend in ONNX Runtime: ``(ids, mask) -> last hidden states``, with dynamic batch and token axes.
Tokenising, windows, pooling, heads and calibration are unchanged.

* ``float32``: the same weights in a faster runtime; hidden states within 1e-4 of torch's on the
  check batch (the export is rejected otherwise), calibrated probabilities within about 1e-6, so
  the combiner and policy thresholds fitted on torch scores apply.
* ``int8``: the float32 graph through onnxruntime's dynamic quantizer (weights int8 per output
  channel, activations quantized per call). Scores move (up to about 0.07 in probability on short
  texts); accuracy and speed are measured in ``bench/results/compress_text.json`` and the
  ``minilm_toxicity`` model card. Checked at export against torch float32 by the cosine of the
  mean-pooled states (at least 0.9 on every check sentence; measured 0.971).

Graphs are exported from the loaded, integrity-checked torch weights on first load and cached by
:mod:`safety.detectors.ort`, keyed on the weights' digests, the quantization, this module's code
and the versions of torch and transformers.
"""

from __future__ import annotations

import io
import logging
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from safety.artifacts import sha256_file
from safety.detectors import ort
from safety.detectors.text.encoder import mean_pool
from safety.errors import ConfigurationError

if TYPE_CHECKING:
    from safety.detectors.crossmodal.embedding import SentenceEncoder

#: What ``quantize=`` accepts in this runtime (``None``: float32).
QUANTIZATIONS = (None, "int8")
#: Bump when the export recipe changes in a way the key does not see.
_EXPORT_FORMAT = 1
_IDS, _MASK, _OUTPUT = "input_ids", "attention_mask", "hidden"
#: float32: the largest difference of a hidden state from torch's on the check batch (measured
#: 2e-5); int8: 1 - the smallest cosine of mean-pooled states (measured 0.029, on "ok"): a
#: sanity check that the quantized graph is the same model, not a bound on its accuracy.
TOLERANCE = {None: 1e-4, "int8": 0.1}
CHECK_SENTENCES = (
    "the weather is nice today",
    "you are a complete idiot and everyone hates you",
    "I will find where you live",
    "a photo of a kitchen knife on a wooden table next to some vegetables and a glass of water",
    "ok",
)


class _Forward(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state


def check_batch(tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    batch = tokenizer(list(CHECK_SENTENCES), padding=True, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


def _quantize_int8(model: bytes) -> bytes:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        plain, quantized = Path(tmp) / "model.onnx", Path(tmp) / "model_int8.onnx"
        plain.write_bytes(model)
        quantizer_logger = logging.getLogger()  # it advises pre-processing on the root logger
        level = quantizer_logger.level
        quantizer_logger.setLevel(logging.ERROR)
        try:
            quantize_dynamic(plain, quantized, weight_type=QuantType.QInt8, per_channel=True)
        finally:
            quantizer_logger.setLevel(level)
        return quantized.read_bytes()


def export(model: torch.nn.Module, tokenizer, *, quantize: str | None) -> bytes:
    """``model``'s last hidden states as an ONNX graph (bytes); batch and token axes dynamic."""
    ort.require_onnx()
    ids, mask = check_batch(tokenizer)
    buffer = io.BytesIO()
    was_training = model.training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
        torch.onnx.export(_Forward(model).eval(), (ids[:2], mask[:2]), buffer, dynamo=False, opset_version=ort.OPSET,
                          input_names=[_IDS, _MASK], output_names=[_OUTPUT],
                          dynamic_axes={_IDS: {0: "batch", 1: "tokens"}, _MASK: {0: "batch", 1: "tokens"},
                                        _OUTPUT: {0: "batch", 1: "tokens"}})
    model.train(was_training)
    graph = buffer.getvalue()
    return _quantize_int8(graph) if quantize == "int8" else graph


class OrtHiddenStates:
    """The forward pass in an onnxruntime session (inference only: no gradients)."""

    runtime = "onnxruntime"

    def __init__(self, session, *, quantize: str | None) -> None:
        self.session = session
        self.quantize = quantize

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        feed = {_IDS: np.ascontiguousarray(ids.numpy(), dtype=np.int64),
                _MASK: np.ascontiguousarray(mask.numpy(), dtype=np.int64)}
        return torch.from_numpy(self.session.run([_OUTPUT], feed)[0])


def difference(model: torch.nn.Module, tokenizer, states: OrtHiddenStates) -> float:
    """How far the session is from torch float32 on the check batch (see :data:`TOLERANCE`)."""
    ids, mask = check_batch(tokenizer)
    with torch.inference_mode():
        reference = _Forward(model).eval()(ids, mask)
    ours = states(ids, mask)
    if states.quantize is None:
        return float((ours - reference).abs().max())
    cosine = torch.nn.functional.cosine_similarity(mean_pool(ours, mask), mean_pool(reference, mask), dim=1)
    return float(1.0 - cosine.min())


def hidden_states(model: torch.nn.Module, tokenizer, *, name: str, weights: Sequence[str], quantize: str | None = None,
                  threads: int | None = None, directory: Path | None = None) -> OrtHiddenStates:
    """An ONNX Runtime backend for ``model`` (loaded, checked weights). ``name`` names the graph in
    the cache; ``weights`` are digests of everything that determines the weights (they key it)."""
    if quantize not in QUANTIZATIONS:
        raise ConfigurationError(f"unknown quantization {quantize!r} for the onnxruntime text encoder;"
                                 f" known: {', '.join(q for q in QUANTIZATIONS if q)}")
    import transformers

    graph = f"{name}-int8" if quantize else name
    key = ort.export_key(f"format={_EXPORT_FORMAT}", f"quantize={quantize}", f"transformers={transformers.__version__}",
                         f"code={ort.source_digest(_Forward)}", *(f"weights={w}" for w in weights))
    return OrtHiddenStates(ort.cached_session(
        graph, key, export=lambda: export(model, tokenizer, quantize=quantize),
        check=lambda session: difference(model, tokenizer, OrtHiddenStates(session, quantize=quantize)),
        tolerance=TOLERANCE[quantize], threads=threads, directory=directory,
        meta={"weights": list(weights), "quantize": quantize}), quantize=quantize)


def sentence_encoder_states(encoder: "SentenceEncoder", *, runtime: str) -> OrtHiddenStates:
    """The cross-modal check's sentence encoder (the package's all-MiniLM-L6-v2, untouched) in
    ONNX Runtime, keyed on the sha256 of the package's model files."""
    ort.check_runtime(runtime)
    files = [encoder.model_dir / "config.json", *sorted(encoder.model_dir.glob("*.safetensors"))]
    weights = [f"{p.name}@{sha256_file(p)}" for p in files if p.is_file()]
    return hidden_states(encoder.model, encoder.tokenizer, name="all-minilm-l6-v2", weights=weights)
