"""The cross-modal detector: do the text and the image agree, and are they unsafe together?

Over any :class:`~safety.detectors.crossmodal.embedding.JointEmbedder` (ConSE offline, OpenCLIP
with real weights), for each (text, image) pair it returns signals, not category scores (the
combiner turns them into evidence; the policy never reads them directly). All are in
``channels.cross_modal.scores``:

``similarity``
    cosine of the text and image embeddings, in [-1, 1].
``match``
    probability that the text describes the image: the embedder's calibrator applied to
    ``similarity`` (ConSE: fitted on matched vs shuffled COCO captions); without one, the
    uncalibrated ``(similarity + 1) / 2``.
``image_unsafe`` / ``text_unsafe``
    zero-shot: the share of a softmax over the prompt bank's concepts (cosine x ``logit_scale``)
    that falls on unsafe concepts, for the image and for the text.
``image:<concept>`` / ``text:<concept>``
    that softmax's mass on each unsafe concept.
``mismatch``
    the text is benign while the image is unsafe, and the two do not describe the same thing:
    ``image_unsafe * (1 - text_unsafe) * (1 - match)`` (the seed's "safe" text over a weapon).
``agreement``
    both describe the same unsafe thing: the largest, over unsafe concepts, of the smaller of
    the two sides' mass on it.
``compositional``
    joint evidence minus the stronger single modality: the unsafe share of the zero-shot
    softmax of the pair's mean embedding, minus ``max(image_unsafe, text_unsafe)``; positive
    when text and image are more unsafe together than either alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from safety.detectors.crossmodal.embedding import JointEmbedder, PromptBank
from safety.detectors.protocol import Detection, DetectorInfo, DetectorKind

if TYPE_CHECKING:
    from safety.images import DecodedImage

SIGNALS = ("similarity", "match", "image_unsafe", "text_unsafe", "mismatch", "agreement", "compositional")


class CrossModalDetector:
    def __init__(self, *, embedder: JointEmbedder, bank: PromptBank, match_calibrator=None,
                 info: DetectorInfo | None = None) -> None:
        self.embedder = embedder
        self.bank = bank
        self.match_calibrator = match_calibrator
        self.concepts = bank.embed(embedder)
        self.unsafe = bank.unsafe_mask
        self.info = info or DetectorInfo(id=f"cross-modal:{embedder.id}", version=embedder.version,
                                         kind=DetectorKind.TEXT_IMAGE, sha256=embedder.sha256)

    @classmethod
    def load_conse(cls, *, prompt_bank: str | None = None, runtime: str = "torch") -> "CrossModalDetector":
        """The offline default: ConSE over EfficientNet-Lite0, open_nsfw and all-MiniLM-L6-v2
        (``runtime="onnxruntime"``: the CNNs in ONNX Runtime)."""
        import json

        from safety.artifacts import load_artifact
        from safety.calibration import calibrator_from_dict
        from safety.detectors.crossmodal.conse import ARTIFACT, ConSEEmbedder

        artifact = load_artifact(ARTIFACT)
        config = json.loads(artifact.file("config.json").read_text(encoding="utf-8"))
        embedder = ConSEEmbedder.load(artifact, runtime=runtime)
        return cls(embedder=embedder, bank=PromptBank.load(prompt_bank),
                   match_calibrator=calibrator_from_dict(config["match_calibrator"]))

    @classmethod
    def load_openclip(cls, *, model_name: str | None = None, checkpoint: str | None = None,
                      prompt_bank: str | None = None) -> "CrossModalDetector":
        """Real CLIP weights on disk: ``SAFETY_OPENCLIP_MODEL`` and ``SAFETY_OPENCLIP_CHECKPOINT``
        (or the arguments). ``match`` is uncalibrated: no offline data to fit it on."""
        from safety.detectors.crossmodal.openclip import OpenCLIPEmbedder
        from safety.errors import ConfigurationError
        from safety.settings import Settings

        settings = Settings()
        model_name = model_name or settings.openclip_model
        checkpoint = checkpoint or settings.openclip_checkpoint
        if not model_name or not checkpoint:
            raise ConfigurationError("the OpenCLIP cross-modal detector needs SAFETY_OPENCLIP_MODEL and"
                                     " SAFETY_OPENCLIP_CHECKPOINT (a checkpoint file on this machine)")
        embedder = OpenCLIPEmbedder.load(model_name=model_name, checkpoint=checkpoint)
        return cls(embedder=embedder, bank=PromptBank.load(prompt_bank or settings.prompt_bank))

    # -- protocol -------------------------------------------------------------------------------

    def predict_batch(self, pairs: Sequence[tuple[str, "DecodedImage"]]) -> list[Detection]:
        if not pairs:
            return []
        texts = self.embedder.embed_texts([text for text, _ in pairs])
        images = self.embedder.embed_images([image for _, image in pairs])
        signals = self.signals(texts, images)
        return [Detection(scores={}, signals={k: float(v[i]) for k, v in signals.items()}) for i in range(len(pairs))]

    # -- the signals ----------------------------------------------------------------------------

    def zero_shot(self, vectors: torch.Tensor) -> torch.Tensor:
        """(N, n_concepts) softmax over the prompt bank's concepts."""
        return torch.softmax(self.embedder.logit_scale * vectors @ self.concepts.T, dim=1)

    def signals(self, texts: torch.Tensor, images: torch.Tensor) -> dict[str, np.ndarray]:
        similarity = (texts * images).sum(dim=1).clamp(-1.0, 1.0).double().numpy()
        if self.match_calibrator is not None:
            match = np.asarray(self.match_calibrator.predict_proba(similarity), dtype=np.float64)
        else:
            match = (similarity + 1.0) / 2.0
        p_image, p_text = self.zero_shot(images), self.zero_shot(texts)
        joint = self.zero_shot(torch.nn.functional.normalize(texts + images, dim=1))
        unsafe = self.unsafe
        image_unsafe = p_image[:, unsafe].sum(dim=1).double().numpy()
        text_unsafe = p_text[:, unsafe].sum(dim=1).double().numpy()
        joint_unsafe = joint[:, unsafe].sum(dim=1).double().numpy()
        both = torch.minimum(p_image[:, unsafe], p_text[:, unsafe])
        out = {
            "similarity": similarity,
            "match": match,
            "image_unsafe": image_unsafe,
            "text_unsafe": text_unsafe,
            "mismatch": image_unsafe * (1.0 - text_unsafe) * (1.0 - match),
            "agreement": both.max(dim=1).values.double().numpy(),
            "compositional": joint_unsafe - np.maximum(image_unsafe, text_unsafe),
        }
        unsafe_concepts = [c.name for c in self.bank.concepts if c.unsafe]
        for column, name in enumerate(unsafe_concepts):
            out[f"image:{name}"] = p_image[:, unsafe][:, column].double().numpy()
            out[f"text:{name}"] = p_text[:, unsafe][:, column].double().numpy()
        return out
