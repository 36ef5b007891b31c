"""The image CNNs in ONNX Runtime: the same weights, exported once, run by a faster CPU runtime.

``ImageCNNDetector.load(runtime="onnxruntime")`` (registry: ``image-cnn-ort``, in the
``offline-default`` bundle) wraps each torch view scorer in an :class:`OrtScorer`. The wrapper
keeps the torch scorer's preprocessing, calibration and descriptions, and replaces its forward pass
(``outputs(features(x))``: the logit and, for the weapons scorer, the 1,000 ImageNet class
probabilities) by one ``onnxruntime.InferenceSession`` on the CPU.
``bench/results/compress_image.json`` measures what it buys and what it changes.

The graphs are not shipped (23.6 MB for open_nsfw, 18.6 MB for EfficientNet-Lite0 with its head):
each is exported from the integrity-checked torch weights on first load, checked against torch on
a fixed batch and cached (:mod:`safety.detectors.ort`), keyed on the artifact's sha256 and the code
of the scorer and its modules.

Not in this runtime: Grad-CAM regions (they need torch's gradients); they run on the torch model
behind the session (``OrtScorer.torch``), for flagged images only. Scores differ from torch's by
float rounding only (``cache_id`` differs too, so the shared view cache never mixes them), so the
combiner fitted on torch outputs applies.
"""

from __future__ import annotations

import io
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from safety.detectors import ort
from safety.errors import ModelError

if TYPE_CHECKING:
    from safety.detectors.image.cnn import ViewScorer

#: Bump when the export recipe changes in a way the key below does not see.
_EXPORT_FORMAT = 1
#: An export whose outputs differ from torch's by more than this on the check batch is rejected.
#: Measured: 2.5e-6 (open_nsfw) and 4.3e-6 (weapons) on the check batch, at most 1.6e-5 on photos
#: (bench/results/compress_image.json, tests/detectors/test_image_ort.py).
EXPORT_TOLERANCE = 1e-3
_INPUT, _OUTPUT = "x", "outputs"


class _Forward(torch.nn.Module):
    """``x -> scorer.outputs(scorer.features(x))`` as one module, for the exporter."""

    def __init__(self, scorer: "ViewScorer") -> None:
        super().__init__()
        self.scorer = scorer
        # Registered so that the exporter sees the weights as parameters (and their eval mode).
        self.parts = torch.nn.ModuleList(m for m in vars(scorer).values() if isinstance(m, torch.nn.Module))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scorer.outputs(self.scorer.features(x))


def export_key(scorer: "ViewScorer") -> str:
    """A digest of everything the exported graph depends on."""
    artifact = getattr(scorer, "artifact", None)
    if artifact is None:
        raise ModelError(f"{type(scorer).__name__} has no artifact: nothing to key its ONNX export on")
    modules = sorted({type(m).__module__ for part in vars(scorer).values() if isinstance(part, torch.nn.Module)
                      for m in part.modules() if not type(m).__module__.startswith("torch.")})
    return ort.export_key(
        f"format={_EXPORT_FORMAT}",
        f"scorer={type(scorer).__module__}.{type(scorer).__qualname__}@{ort.source_digest(type(scorer))}",
        f"artifact={artifact.name}@{artifact.sha256}",
        *(f"module={name}@{ort.source_digest(sys.modules[name])}" for name in modules if name in sys.modules))


def check_batch(scorer: "ViewScorer", n: int = 3) -> torch.Tensor:
    """``n`` preprocessed views of fixed synthetic images (noise, gradients, flat colours)."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 320, dtype=np.float32)
    images = [Image.fromarray(rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)),
              Image.fromarray(np.stack([np.tile(ramp, (240, 1)), np.tile(ramp[::-1], (240, 1)),
                                        np.full((240, 320), 90, np.float32)], axis=2).astype(np.uint8)),
              Image.new("RGB", (300, 200), (220, 180, 150))]
    return scorer.preprocess([images[i % len(images)] for i in range(n)])


def export(scorer: "ViewScorer") -> bytes:
    """The scorer's forward pass as an ONNX graph (bytes), batch axis dynamic."""
    ort.require_onnx()
    # In eval mode: the exporter sets every submodule back to this module's mode afterwards.
    module = _Forward(scorer).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
        torch.onnx.export(module, (check_batch(scorer, 2),), buffer, dynamo=False, opset_version=ort.OPSET,
                          input_names=[_INPUT], output_names=[_OUTPUT],
                          dynamic_axes={_INPUT: {0: "views"}, _OUTPUT: {0: "views"}})
    return buffer.getvalue()


def _run(session, x: torch.Tensor) -> torch.Tensor:
    array = np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)
    return torch.from_numpy(session.run([_OUTPUT], {_INPUT: array})[0])


def max_difference(scorer: "ViewScorer", session) -> float:
    """Max abs difference of the session's outputs from torch's on :func:`check_batch`."""
    x = check_batch(scorer)
    with torch.inference_mode():
        reference = scorer.outputs(scorer.features(x))
    return float((_run(session, x) - reference).abs().max())


def graph_paths(scorer: "ViewScorer", directory: Path | None = None) -> tuple[Path, Path, str]:
    """(graph, sidecar JSON, key) of ``scorer``'s exported graph in the cache folder."""
    key = export_key(scorer)
    return (*ort.graph_paths(scorer.artifact.name, key, directory), key)


def load_session(scorer: "ViewScorer", *, threads: int | None = None, directory: Path | None = None):
    """An onnxruntime session running ``scorer``'s forward pass: from the cache when a verified
    graph is there, else exported, checked against torch, and cached (best effort)."""
    artifact = scorer.artifact
    return ort.cached_session(artifact.name, export_key(scorer), export=lambda: export(scorer),
                              check=lambda session: max_difference(scorer, session), tolerance=EXPORT_TOLERANCE,
                              threads=threads, directory=directory,
                              meta={"artifact": artifact.name, "artifact_sha256": artifact.sha256})


class OrtScorer:
    """A torch view scorer whose forward pass runs in onnxruntime.

    ``features`` passes the preprocessed batch through and ``outputs`` runs the whole graph, so
    :func:`safety.detectors.image.shared.view_outputs` drives it unchanged. Everything else
    (preprocessing, tile grid, calibration, descriptions, artifact) is the wrapped scorer's.
    """

    runtime = "onnxruntime"

    def __init__(self, scorer: "ViewScorer", session) -> None:
        self.scorer = scorer
        #: The torch model behind the session: Grad-CAM (which needs gradients) runs on it.
        self.torch = scorer
        self.session = session
        self.category = scorer.category
        self.grid = scorer.grid
        self.input_size = scorer.input_size
        self.window = scorer.window
        self.artifact = getattr(scorer, "artifact", None)
        #: Its outputs differ from torch's by rounding: never served torch's cached views.
        self.cache_id = None if scorer.cache_id is None else f"{scorer.cache_id}+ort"

    @classmethod
    def wrap(cls, scorer: "ViewScorer", *, threads: int | None = None, directory: Path | None = None) -> "OrtScorer":
        return cls(scorer, load_session(scorer, threads=threads, directory=directory))

    def preprocess(self, crops: Sequence[Image.Image]) -> torch.Tensor:
        return self.scorer.preprocess(crops)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The input itself: the graph starts from the preprocessed views."""
        return x

    def outputs(self, fmap: torch.Tensor) -> torch.Tensor:
        return _run(self.session, fmap)

    def logit(self, fmap: torch.Tensor) -> torch.Tensor:
        """The logit column (no gradient: Grad-CAM needs the torch scorer)."""
        return self.outputs(fmap)[:, 0]

    def probability(self, logits: np.ndarray) -> np.ndarray:
        return self.scorer.probability(logits)

    def describe(self, outputs: torch.Tensor) -> list[dict[str, float]]:
        return self.scorer.describe(outputs)

    def __getattr__(self, name: str) -> Any:  # anything else (groups, calibrator, ...) is the wrapped scorer's
        if name == "scorer":
            raise AttributeError(name)
        return getattr(self.scorer, name)


def for_runtime(scorers: Sequence["ViewScorer"], *, runtime: str, explain: bool) -> tuple[list, str]:
    """``scorers`` for ``runtime`` and the suffix for the detector's version (``""`` for torch)."""
    ort.check_runtime(runtime)
    if runtime == "torch":
        return list(scorers), ""
    del explain  # Grad-CAM regions run on the wrapped torch scorer (``OrtScorer.torch``), only for flagged images
    suffix = ort.runtime_version()
    return [OrtScorer.wrap(s) for s in scorers], suffix
