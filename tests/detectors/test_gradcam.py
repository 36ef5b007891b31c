"""Grad-CAM finds the part of the input that drives a score, and cam_box turns it into a box."""

from __future__ import annotations

import numpy as np
import torch

from safety.detectors.image.gradcam import cam_box, grad_cam


def test_cam_box_keeps_the_component_holding_the_peak():
    cam = np.zeros((7, 7))
    cam[1:3, 1:3] = 0.6  # a weaker blob
    cam[4:6, 3:7] = 1.0  # the peak
    assert cam_box(cam, (224, 224)) == (96, 128, 224, 192)


def test_cam_box_of_a_flat_map_is_none():
    assert cam_box(np.zeros((7, 7)), (224, 224)) is None
    assert cam_box(np.full((7, 7), np.nan), (224, 224)) is None


def test_grad_cam_points_at_the_pixels_the_score_reads():
    # features: 2x2 average pooling of the input (3 -> 3 channels), score: mean of channel 0
    # over the feature map. A bright square in channel 0 is all the score responds to.
    def features(x):
        return torch.nn.functional.avg_pool2d(x, 32)

    def head(fmap):
        return fmap[:, 0].mean(dim=(1, 2)) - fmap[:, 1].mean(dim=(1, 2))

    x = torch.zeros(1, 3, 224, 224)
    x[0, 0, 160:224, 32:96] = 1.0  # bottom-left square in the scored channel
    x[0, 1, 0:64, 160:224] = 1.0  # top-right square in a channel that lowers the score
    cam = grad_cam(features, head, x)
    assert cam.shape == (7, 7)
    x0, y0, x1, y1 = cam_box(cam, (224, 224))
    assert (x0, y0, x1, y1) == (32, 160, 96, 224)
