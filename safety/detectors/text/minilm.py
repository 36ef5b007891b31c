"""The primary text detector: frozen all-MiniLM-L6-v2 features, trained heads, calibrated per category.

Trained by ``python -m safety.training.train_text`` into ``models/minilm_toxicity`` (see its model
card). At run time, for each text:

* the text and its normalised forms (``normalize.variants``: NFKC, invisible characters,
  homoglyphs, leetspeak, spaced-out letters, repeated characters) are scored in one encoder pass,
  and each category keeps its maximum over the forms; the forms that won are reported;
* texts longer than one 128-token window are scored window by window (stride 96), max per category;
* for texts whose top category reaches ``explain_threshold``, character spans are found by
  occlusion: each word is removed in turn and the drop in that category's probability is the
  word's score.

Runtimes and compression (``load(runtime=..., quantize=...)``); everything but the encoder's
forward pass (variants, windows, heads, calibration, spans) is the same code path:

* ``runtime="onnxruntime"`` runs the encoder in ONNX Runtime
  (:mod:`safety.detectors.text.onnx_runtime`): probabilities within about 1e-6 of torch's, so the
  id stays ``minilm-toxicity`` and the version says the runtime. The default bundle runs this.
* ``quantize="int8"`` is the compressed fast path: in ONNX Runtime, onnxruntime's dynamic int8
  quantizer on the exported graph; in torch, every ``nn.Linear`` of the encoder becomes a
  dynamically quantized int8 layer (``torch.ao.quantization.quantize_dynamic``). Either way the
  weights are int8 per output channel and activations are quantized per call; scores differ
  slightly from the float32 model's, so the detector reports its own id
  (``minilm-toxicity-int8``) and version. Measured trade-off: ``bench/compress_text.py`` and the
  model card.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from safety.artifacts import Artifact, load_artifact, sha256_file
from safety.calibration import calibrator_from_dict
from safety.detectors import ort
from safety.detectors.protocol import Detection, DetectorInfo, DetectorKind, TextSpan
from safety.detectors.text.encoder import MiniLMEncoder, max_by_owner
from safety.detectors.text.normalize import variants
from safety.errors import ArtifactIntegrityError
from safety.taxonomy import Category

ARTIFACT = "minilm_toxicity"
_WORD = re.compile(r"\S+")

#: The compressed variants ``MiniLMToxicityDetector.load(quantize=...)`` accepts.
QUANTIZATIONS = ("int8",)


def quantize_int8(module: nn.Module) -> nn.Module:
    """Dynamic int8 quantization of every ``nn.Linear`` in ``module``, in place (CPU only).

    Weights are stored as int8 with one scale per output channel; each call quantizes its input
    activations on the fly (per tensor), multiplies in int8 and returns float32. Embeddings,
    LayerNorm, attention softmax and GELU stay float32. ``torch.ao.quantization`` warns that it
    is deprecated in favour of ``torchao``; it works in the pinned torch (2.14.1), and the warnings
    are silenced here only.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
                                category=UserWarning)
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        return quantize_dynamic(module, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)


class Heads(nn.Module):
    """A shared 2-layer MLP over the pooled features: one logit per category."""

    def __init__(self, dim: int, hidden: int, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_labels))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class MiniLMToxicityDetector:
    def __init__(self, *, encoder: MiniLMEncoder, heads: torch.nn.Module, labels: Sequence[Category],
                 calibrators: Sequence, info: DetectorInfo, explain_threshold: float = 0.5,
                 max_explained_words: int = 64) -> None:
        self.encoder = encoder
        self.heads = heads.eval()
        self.labels = tuple(labels)
        self.calibrators = tuple(calibrators)
        self.info = info
        self.explain_threshold = explain_threshold
        self.max_explained_words = max_explained_words

    @classmethod
    def load(cls, artifact: Artifact | None = None, *, explain: bool = True, explain_threshold: float = 0.5,
             quantize: str | None = None, runtime: str = "torch") -> "MiniLMToxicityDetector":
        """Load the artifact. ``explain=False`` skips the occlusion spans (about half the batched
        cost on flagged texts); otherwise texts whose top category reaches ``explain_threshold``
        get spans. ``quantize="int8"``: after the weights are loaded (and checked), the encoder's
        linear layers are dynamically quantized to int8 (:func:`quantize_int8`, or onnxruntime's
        quantizer with ``runtime="onnxruntime"``); the detector's id and version then say so
        (``minilm-toxicity-int8``, ``<version>+int8``). ``runtime="onnxruntime"``: the encoder's
        forward pass runs in ONNX Runtime (the version ends in ``+onnxruntime@<its version>``)."""
        if quantize is not None and quantize not in QUANTIZATIONS:
            raise ValueError(f"unknown quantization {quantize!r}; known: {', '.join(QUANTIZATIONS)}")
        ort.check_runtime(runtime)
        artifact = artifact or load_artifact(ARTIFACT)
        config = json.loads(artifact.file("config.json").read_text(encoding="utf-8"))
        encoder = MiniLMEncoder(window=config["window"], stride=config["stride"])
        for name, expected in config["encoder"]["files"].items():
            if sha256_file(encoder.model_dir / name) != expected:
                raise ArtifactIntegrityError(
                    f"encoder file {name} in {encoder.model_dir} does not match the sha256 the heads were trained on"
                    f" ({config['encoder']['package']})"
                )
        labels = [Category(c) for c in config["labels"]]
        try:
            if "encoder_top.safetensors" in artifact.files:
                encoder.load_tuned_layers(load_file(artifact.file("encoder_top.safetensors")))
            heads = Heads(encoder.dim, config["hidden"], len(labels))
            heads.load_state_dict(load_file(artifact.file("heads.safetensors")))
            calibrators = [calibrator_from_dict(config["calibration"][c.value]) for c in labels]
            label_map = {label: Category(category) for label, category in config["label_map"].items()}
        except (KeyError, ValueError, RuntimeError) as exc:
            raise ArtifactIntegrityError(f"artifact {artifact.name!r} is not a valid text head: {exc}") from exc
        detector_id, version = config["id"], artifact.version
        if quantize == "int8":
            detector_id, version = f"{detector_id}-int8", f"{version}+int8"
        if runtime == "onnxruntime":
            from safety.detectors.text.onnx_runtime import hidden_states

            weights = [f"{artifact.name}@{artifact.sha256}", *(f"{n}@{d}" for n, d in sorted(config["encoder"]["files"].items()))]
            encoder.hidden_states = hidden_states(encoder.model, encoder.tokenizer, name=artifact.name, weights=weights,
                                                  quantize=quantize)
            version += ort.runtime_version()
        elif quantize == "int8":
            quantize_int8(encoder.model)  # the heads stay float32: 0.2M multiply-adds per window
        info = DetectorInfo(id=detector_id, version=version, kind=DetectorKind.TEXT, sha256=artifact.sha256,
                            label_map=label_map)
        return cls(encoder=encoder, heads=heads, labels=labels, calibrators=calibrators, info=info,
                   explain_threshold=explain_threshold if explain else float("inf"))

    # -- scoring -------------------------------------------------------------------------------

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), n_labels) uncalibrated logits, max over each text's windows."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        batch = self.encoder.features(texts)
        with torch.inference_mode():
            return max_by_owner(self.heads(batch.features), batch.owners, batch.n_texts).numpy()

    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        return np.stack([c.predict_proba(logits[:, j]) for j, c in enumerate(self.calibrators)], axis=1)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities of the texts as given (no normalisation)."""
        return self.calibrate(self.logits(texts))

    def _logits_with_variants(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[list]]:
        """Per text: the max logit over its forms, the logit of the form as given, and per category
        the form that won. Calibration is monotone, so the max logit is also the max probability."""
        forms = [variants(t) for t in texts]
        logits = self.logits([v.text for vs in forms for v in vs])
        best = np.zeros((len(texts), len(self.labels)), dtype=logits.dtype)
        raw = np.zeros_like(best)
        winners: list[list] = []
        row = 0
        for i, vs in enumerate(forms):
            block = logits[row : row + len(vs)]
            raw[i], best[i] = block[0], block.max(axis=0)
            winners.append([vs[k] for k in block.argmax(axis=0)])
            row += len(vs)
        return best, raw, winners

    def predict_batch(self, texts: Sequence[str]) -> list[Detection]:
        best_logits, raw_logits, winners = self._logits_with_variants(texts)
        best, raw = self.calibrate(best_logits), self.calibrate(raw_logits)
        detections = []
        for i, text in enumerate(texts):
            scores = {c: float(best[i, j]) for j, c in enumerate(self.labels)}
            transforms: list[str] = []
            for j, variant in enumerate(winners[i]):
                if best[i, j] > raw[i, j]:
                    transforms.extend(t for t in variant.transforms if t not in transforms)
            detections.append(Detection(
                scores=scores,
                raw_scores={c.value: s for c, s in scores.items()},
                transforms=tuple(transforms),
                unnormalized_scores={c: float(raw[i, j]) for j, c in enumerate(self.labels)} if transforms else None,
            ))
        flagged = [(i, self.labels[int(best[i].argmax())]) for i in range(len(texts))
                   if best[i].max() >= self.explain_threshold]
        for (i, _), spans in zip(flagged, self.explain_many([(texts[i], c) for i, c in flagged]), strict=True):
            detections[i] = replace(detections[i], spans=spans)
        return detections

    def explain(self, text: str, category: Category) -> tuple[TextSpan, ...]:
        return self.explain_many([(text, category)])[0]

    def explain_many(self, requests: Sequence[tuple[str, Category]]) -> list[tuple[TextSpan, ...]]:
        """Occlusion: remove each word in turn; a word's score is the drop in ``category``'s logit.

        The head's logit, not the probability: when a text is abusive twice over ("you stupid
        idiot"), removing one word barely moves a saturated probability, but still lowers the logit.
        Words whose removal lowers the logit by at least 0.25 and by at least a tenth of the
        largest drop are kept (the top 5), in text order. All requests share one encoder pass.
        """
        plans = []
        batch: list[str] = []
        for text, category in requests:
            words = [m.span() for m in _WORD.finditer(text)][: self.max_explained_words]
            plans.append((len(batch), words, self.labels.index(category), category))
            batch.extend([text, *(text[:s] + text[e:] for s, e in words)])
        logits, _, _ = self._logits_with_variants(batch) if batch else (np.zeros((0, 0)), None, None)
        results: list[tuple[TextSpan, ...]] = []
        for start, words, j, category in plans:
            if not words:
                results.append(())
                continue
            drops = logits[start, j] - logits[start + 1 : start + 1 + len(words), j]
            floor = max(0.25, 0.1 * float(drops.max()))
            spans = [TextSpan(start=s, end=e, category=category, score=round(float(d), 4))
                     for (s, e), d in zip(words, drops) if d >= floor]
            spans.sort(key=lambda span: span.score, reverse=True)
            results.append(tuple(sorted(spans[:5], key=lambda span: span.start)))
        return results
