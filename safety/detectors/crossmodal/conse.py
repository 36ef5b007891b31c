"""ConSE: the offline default joint embedding, from parts that ship here.

Convex combination of semantic embeddings (Norouzi et al., 2014). An image becomes a point in the
sentence encoder's space (all-MiniLM-L6-v2, 384-d):

1. EfficientNet-Lite0's ImageNet class probabilities, over the same views the image channel
   scores: the whole frame and, on large frames, its tiles (``tile_weight`` of the mass goes to
   the tiles' mean); animated images average their sampled frames;
2. the ``top_k`` classes' probabilities weight the sentence embeddings of the class texts
   (``a photo of a <name>, <WordNet definition>``: the definition says what a "tench" or a
   "dhole" is, which the name alone does not);
3. what ImageNet has no class for is added from the image channel's own scorers: the weapons
   head's probability times the embedding of a weapons description, and open_nsfw's probability
   times that of an explicit-content description (``evidence`` in the config);
4. both sides are centred on the means of the training split's images and captions and
   re-normalised, which removes the direction every caption shares with every image.

Texts are embedded by the same sentence encoder and centred. Built by
``python -m safety.training.build_conse`` into ``models/conse_imagenet`` (see its model card).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import load_file

from safety.artifacts import Artifact, load_artifact
from safety.detectors import ort
from safety.detectors.crossmodal.embedding import SentenceEncoder
from safety.detectors.image.shared import view_outputs
from safety.detectors.image.views import views_of

if TYPE_CHECKING:
    from safety.detectors.image.efficientnet import WeaponsScorer
    from safety.detectors.image.open_nsfw import OpenNSFWScorer
    from safety.images import DecodedImage

ARTIFACT = "conse_imagenet"


class ConSEEmbedder:
    def __init__(self, *, weapons: "WeaponsScorer", nsfw: "OpenNSFWScorer", sentences: SentenceEncoder,
                 class_embeddings: torch.Tensor, top_k: int, tile_weight: float,
                 evidence: dict[str, tuple[torch.Tensor, float]], image_mean: torch.Tensor | None,
                 text_mean: torch.Tensor | None, logit_scale: float, sha256: str, version: str,
                 batch_size: int = 4) -> None:
        self.weapons = weapons
        self.nsfw = nsfw
        self.sentences = sentences
        self.class_embeddings = class_embeddings
        self.top_k = top_k
        self.tile_weight = tile_weight
        self.evidence = evidence
        self.image_mean = image_mean
        self.text_mean = text_mean
        self.logit_scale = logit_scale
        self.dim = class_embeddings.shape[1]
        self.id = "conse-imagenet"
        self.version = version
        self.sha256 = sha256
        self.batch_size = batch_size

    @classmethod
    def load(cls, artifact: Artifact | None = None, *, runtime: str = "torch") -> "ConSEEmbedder":
        """``runtime="onnxruntime"``: the two CNNs run in ONNX Runtime, like ``image-cnn-ort``, so
        a text+image request shares their passes with the image channel (same cache ids), and so
        does the sentence encoder."""
        from safety.detectors.image.efficientnet import WeaponsScorer
        from safety.detectors.image.open_nsfw import OpenNSFWScorer

        artifact = artifact or load_artifact(ARTIFACT)
        config = json.loads(artifact.file("config.json").read_text(encoding="utf-8"))
        tensors = load_file(artifact.file("embeddings.safetensors"))
        weapons, nsfw = WeaponsScorer.load(), OpenNSFWScorer.load()
        if runtime != "torch":
            from safety.detectors.image.onnx_runtime import for_runtime

            (weapons, nsfw), _ = for_runtime([weapons, nsfw], runtime=runtime, explain=False)
        sentences = SentenceEncoder(runtime=runtime)
        evidence = {name: (tensors[f"evidence.{name}"], float(spec["weight"])) for name, spec in config["evidence"].items()}
        digest = hashlib.sha256("\n".join(a.sha256 for a in (artifact, weapons.artifact, nsfw.artifact)).encode())
        return cls(weapons=weapons, nsfw=nsfw, sentences=sentences, class_embeddings=tensors["classes"],
                   top_k=int(config["top_k"]), tile_weight=float(config["tile_weight"]), evidence=evidence,
                   image_mean=tensors.get("image_mean"), text_mean=tensors.get("text_mean"),
                   logit_scale=float(config["logit_scale"]), sha256=digest.hexdigest(),
                   version=artifact.version + ("" if runtime == "torch" else ort.runtime_version()))

    # -- the two sides ----------------------------------------------------------------------------

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return _centre(self.sentences.encode(texts), self.text_mean)

    def embed_images(self, images: Sequence["DecodedImage"]) -> torch.Tensor:
        return _centre(self.raw_image_vectors(images), self.image_mean)

    def raw_image_vectors(self, images: Sequence["DecodedImage"]) -> torch.Tensor:
        """The uncentred ConSE vectors (normalised): what the recipe averages into ``image_mean``."""
        probs, weapons = self._class_probabilities(images)
        sexual = self._sexual(images)
        if self.top_k and self.top_k < probs.shape[1]:
            top = torch.topk(probs, self.top_k, dim=1)
            probs = torch.zeros_like(probs).scatter_(1, top.indices, top.values)
        vectors = probs @ self.class_embeddings
        for name, score in (("weapons", weapons), ("sexual", sexual)):
            if name in self.evidence:
                direction, weight = self.evidence[name]
                vectors = vectors + weight * score[:, None] * direction[None, :]
        return torch.nn.functional.normalize(vectors, dim=1)

    # -- internals --------------------------------------------------------------------------------

    def _class_probabilities(self, images: Sequence["DecodedImage"]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per image: ImageNet class probabilities mixed over views and frames, and the weapons
        probability (max over views, as the image channel computes it)."""
        scorer = self.weapons
        views = [views_of(image.frames, scorer.grid) for image in images]
        outputs = view_outputs(scorer, images, views, batch_size=self.batch_size)  # shared with the image channel
        all_probs = outputs[:, 1:] if len(outputs) else torch.empty(0, 1000)
        all_logits = outputs[:, 0].double().numpy() if len(outputs) else np.empty(0)
        mixed, weapons, offset = [], [], 0
        for image, image_views in zip(images, views, strict=True):
            p = all_probs[offset:offset + len(image_views)]
            kinds = [v.kind for v in image_views]
            frames = [v.frame for v in image_views]
            per_frame = []
            for frame in range(len(image.frames)):
                whole = p[[k for k, (kind, f) in enumerate(zip(kinds, frames)) if kind == "whole" and f == frame]].mean(0)
                tiles = [k for k, (kind, f) in enumerate(zip(kinds, frames)) if kind == "tile" and f == frame]
                per_frame.append(whole if not tiles else (1 - self.tile_weight) * whole + self.tile_weight * p[tiles].mean(0))
            mixed.append(torch.stack(per_frame).mean(0))
            weapons.append(float(scorer.probability(all_logits[offset:offset + len(image_views)].max(keepdims=True))[0]))
            offset += len(image_views)
        return torch.stack(mixed), torch.tensor(weapons, dtype=torch.float32)

    def _sexual(self, images: Sequence["DecodedImage"]) -> torch.Tensor:
        if "sexual" not in self.evidence:
            return torch.zeros(len(images))
        views = [views_of(image.frames, None) for image in images]  # whole frames, as the image channel sees them
        outputs = view_outputs(self.nsfw, images, views, batch_size=self.batch_size)
        flat = torch.sigmoid(outputs[:, 0]) if len(outputs) else torch.empty(0)
        owners = torch.tensor([i for i, image_views in enumerate(views) for _ in image_views])
        return torch.stack([flat[owners == i].max() for i in range(len(images))]) if len(images) else flat


def _centre(vectors: torch.Tensor, mean: torch.Tensor | None) -> torch.Tensor:
    if mean is None:
        return vectors
    return torch.nn.functional.normalize(vectors - mean[None, :], dim=1)
