"""Grad-CAM: which part of a view drove a CNN's score, as a box.

For a view's score ``s`` and the last convolutional feature map ``A`` (C x h x w), the map is
``relu(sum_c mean_ij(ds/dA_cij) * A_c)`` (Selvaraju et al., 2017). The region reported is the
bounding box of the largest connected part of the map above ``threshold`` times its maximum, in
the model input's pixels; :func:`safety.detectors.image.views.map_box` takes it back to the frame.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy import ndimage


def grad_cam(features: Callable[[torch.Tensor], torch.Tensor], head: Callable[[torch.Tensor], torch.Tensor],
             x: torch.Tensor) -> np.ndarray:
    """The Grad-CAM map (h, w) of ``head(features(x))`` for one input ``x`` of shape (1, 3, H, W).

    ``head`` maps the feature map to one score per input (the logit of the category explained).
    """
    with torch.enable_grad():
        fmap = features(x).detach().requires_grad_(True)
        score = head(fmap).sum()
        (grad,) = torch.autograd.grad(score, fmap)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * fmap.detach()).sum(dim=1))[0]
    return cam.numpy()


def cam_box(cam: np.ndarray, input_size: tuple[int, int], *, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """Box (x0, y0, x1, y1) in input pixels around the strongest region of ``cam``; None if flat."""
    peak = float(cam.max()) if cam.size else 0.0
    if not np.isfinite(peak) or peak <= 0.0:
        return None
    mask = cam >= threshold * peak
    labels, count = ndimage.label(mask)
    if count > 1:  # keep the component holding the peak
        mask = labels == labels[np.unravel_index(int(np.argmax(cam)), cam.shape)]
    rows, cols = np.nonzero(mask)
    height, width = cam.shape
    sx, sy = input_size[0] / width, input_size[1] / height
    return (int(cols.min() * sx), int(rows.min() * sy), int(np.ceil((cols.max() + 1) * sx)),
            int(np.ceil((rows.max() + 1) * sy)))
