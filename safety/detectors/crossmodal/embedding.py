"""What every joint text-image embedding offers, the sentence encoder, and the prompt bank.

A :class:`JointEmbedder` maps images and texts into one space where the cosine says how well
they agree. Two backends implement it: ``conse.ConSEEmbedder`` (the offline default, built from
the CNNs and the sentence encoder that ship here) and ``openclip.OpenCLIPEmbedder`` (any OpenCLIP
checkpoint a user has on disk). :class:`~safety.detectors.crossmodal.detector.CrossModalDetector`
only sees this protocol, so its signals have the same meaning whichever backend is active.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch

from safety.errors import ConfigurationError
from safety.taxonomy import Category

if TYPE_CHECKING:
    from safety.images import DecodedImage


@runtime_checkable
class JointEmbedder(Protocol):
    id: str
    version: str
    sha256: str
    dim: int
    #: Cosines are multiplied by this before a softmax over concepts (CLIP's exp(logit_scale)).
    logit_scale: float

    def embed_images(self, images: Sequence["DecodedImage"]) -> torch.Tensor:
        """(N, dim) float32, L2-normalised, in input order."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, dim) float32, L2-normalised, in input order."""
        ...


class SentenceEncoder:
    """all-MiniLM-L6-v2 as a sentence encoder: mean of the last hidden states over the tokens,
    L2-normalised (the model's own recipe). The weights are the package's, untouched (the text
    channel's detector fine-tunes a copy of the top layers; this one is not shared with it)."""

    def __init__(self, model_dir: Path | None = None, *, max_tokens: int = 128, runtime: str = "torch") -> None:
        """``runtime="onnxruntime"``: the forward pass runs in ONNX Runtime
        (:mod:`safety.detectors.text.onnx_runtime`; embeddings within 1e-5 of torch's)."""
        from safety.detectors.text.encoder import TorchHiddenStates, load_minilm

        self.model_dir, self.tokenizer, self.model = load_minilm(model_dir)
        self.max_tokens = max_tokens
        self.dim = self.model.config.hidden_size
        self.hidden_states = TorchHiddenStates(self.model)
        if runtime != "torch":
            from safety.detectors.text.onnx_runtime import sentence_encoder_states

            self.hidden_states = sentence_encoder_states(self, runtime=runtime)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> torch.Tensor:
        from safety.detectors.text.encoder import mean_pool

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                                       max_length=self.max_tokens, return_tensors="pt")
                hidden = self.hidden_states(batch["input_ids"], batch["attention_mask"])
                out.append(torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=1))
        return torch.cat(out) if out else torch.empty(0, self.dim)


@dataclass(frozen=True, slots=True)
class Concept:
    name: str
    #: ``True`` for concepts whose presence is harmful content.
    unsafe: bool
    #: The canonical category it is evidence for, if any.
    category: Category | None
    prompts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PromptBank:
    """Named concepts, each described by a few prompts (``prompts.toml``: data, editable)."""

    concepts: tuple[Concept, ...]

    @classmethod
    def from_toml(cls, text: str) -> "PromptBank":
        data = tomllib.loads(text)
        concepts = []
        for kind, unsafe in (("unsafe", True), ("safe", False)):
            for name, entry in data.get(kind, {}).items():
                prompts = tuple(entry.get("prompts", ()))
                if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
                    raise ConfigurationError(f"prompt bank concept {name!r} needs a non-empty list of prompts")
                category = entry.get("category")
                try:
                    concepts.append(Concept(name, unsafe, Category(category) if category else None, prompts))
                except ValueError as exc:
                    raise ConfigurationError(f"prompt bank concept {name!r}: unknown category {category!r}") from exc
        names = [c.name for c in concepts]
        if len(set(names)) != len(names):
            raise ConfigurationError("prompt bank concept names must be unique across safe and unsafe")
        if not any(c.unsafe for c in concepts) or all(c.unsafe for c in concepts):
            raise ConfigurationError("a prompt bank needs both unsafe and safe concepts")
        return cls(tuple(concepts))

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "PromptBank":
        """``path``, else the bank shipped with the package (``prompts.toml`` next to this module)."""
        if path is None:
            text = (resources.files("safety.detectors.crossmodal") / "prompts.toml").read_text(encoding="utf-8")
        else:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(f"cannot read prompt bank {path}: {exc}") from exc
        return cls.from_toml(text)

    def embed(self, embedder: JointEmbedder) -> torch.Tensor:
        """(n_concepts, dim): each concept's prompts embedded, averaged, re-normalised."""
        flat = [p for c in self.concepts for p in c.prompts]
        vectors = embedder.embed_texts(flat)
        out, start = [], 0
        for concept in self.concepts:
            out.append(vectors[start:start + len(concept.prompts)].mean(dim=0))
            start += len(concept.prompts)
        return torch.nn.functional.normalize(torch.stack(out), dim=1)

    @property
    def unsafe_mask(self) -> torch.Tensor:
        return torch.tensor([c.unsafe for c in self.concepts])
