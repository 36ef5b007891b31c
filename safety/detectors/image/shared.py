"""Per-view CNN outputs, computed once and shared by every detector that needs them.

The image channel and the ConSE cross-modal check run the same EfficientNet-Lite0 (and open_nsfw)
over the same views of the same image. Each view's outputs (the scorer's logit and, for the
weapons scorer, the 1,000 ImageNet class probabilities) are kept in a small process-wide LRU keyed
by the scorer's model and preprocessing (``cache_id``), the image's content hash, and the view's
frame and box, so the second detector of a text+image request reads them instead of running the
CNN again. About 4 KB per view; 4,096 views at most (16 MB).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import torch
from PIL import Image

from safety.cache import LRUCache
from safety.detectors.image.views import View

if TYPE_CHECKING:
    from safety.images import DecodedImage

VIEW_CACHE: LRUCache[torch.Tensor] = LRUCache(4096)


class _Scorer(Protocol):
    cache_id: str | None

    def preprocess(self, crops: Sequence[Image.Image]) -> torch.Tensor: ...

    def features(self, x: torch.Tensor) -> torch.Tensor: ...

    def outputs(self, fmap: torch.Tensor) -> torch.Tensor: ...


def view_outputs(scorer: _Scorer, images: Sequence["DecodedImage"], views: Sequence[Sequence[View]], *,
                 batch_size: int, cache: LRUCache[torch.Tensor] | None = VIEW_CACHE) -> torch.Tensor:
    """``scorer.outputs`` of every view of every image, in view order (one row per view): read
    from ``cache`` when present, else computed ``batch_size`` views per forward pass and stored."""
    flat = [(i, view) for i, image_views in enumerate(views) for view in image_views]
    use_cache = cache is not None and scorer.cache_id is not None
    keys = [f"{scorer.cache_id}|{images[i].sha256}|{view.frame}|{view.kind}|{view.box}" for i, view in flat] \
        if use_cache else [None] * len(flat)
    rows: list[torch.Tensor | None] = [cache.get(k) if use_cache else None for k in keys]
    missing = [n for n, row in enumerate(rows) if row is None]
    for start in range(0, len(missing), batch_size):
        chunk = missing[start:start + batch_size]
        x = scorer.preprocess([flat[n][1].crop(images[flat[n][0]].frames) for n in chunk])
        with torch.inference_mode():
            out = scorer.outputs(scorer.features(x))
        for n, row in zip(chunk, out, strict=True):
            rows[n] = row.clone()
            if use_cache:
                cache.put(keys[n], rows[n])
    return torch.stack(rows) if rows else torch.empty(0, 1)
