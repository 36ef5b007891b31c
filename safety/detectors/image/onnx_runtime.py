"""The image CNNs in ONNX Runtime: the same weights, exported once, run by a faster CPU runtime.

``ImageCNNDetector.load(runtime="onnxruntime")`` (registry: ``image-cnn-ort``, bundle
``offline-ort``) wraps each torch view scorer in an :class:`OrtScorer`. The wrapper keeps the
torch scorer's preprocessing, calibration and descriptions, and replaces its forward pass
(``outputs(features(x))``: the logit and, for the weapons scorer, the 1,000 ImageNet class
probabilities) by one ``onnxruntime.InferenceSession`` on the CPU, with as many intra-op threads
as torch uses. ``bench/results/compress_image.json`` measures what it buys and what it changes.

The ONNX graphs are not shipped (23.6 MB for open_nsfw, 18.6 MB for EfficientNet-Lite0 with its
head): each is exported from the integrity-checked torch weights on first load
(``torch.onnx.export``, TorchScript exporter, dynamic batch axis) and kept in a cache folder,
``$SAFETY_CACHE_DIR/onnx``, else ``$XDG_CACHE_HOME/safety/onnx``, else ``~/.cache/safety/onnx``.
A cached graph's file name is a key over everything that determines it (the artifact's sha256,
the scorer's code and the code of its modules, torch's version, the opset), and a sidecar JSON
records the graph's own sha256, checked before each load; a graph that fails the check is
exported again. Every export is checked against torch on a fixed batch before it is used or
cached. Where the folder cannot be written, the graph is exported into memory on every load.

Not in this runtime: Grad-CAM regions (they need torch's gradients), so the ONNX Runtime detector
runs with ``explain=False``. Its scores differ from torch's by float rounding only (``cache_id``
differs too, so the shared view cache never mixes them); the combiner and the cross-modal
detector were fitted on torch outputs and still run torch, so in the ``offline-ort`` bundle
a text+image request runs the CNNs twice (once per runtime) instead of sharing views.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from safety.errors import ConfigurationError, ModelError

if TYPE_CHECKING:
    from safety.detectors.image.cnn import ViewScorer

logger = logging.getLogger(__name__)

#: The runtimes ``ImageCNNDetector.load(runtime=...)`` accepts.
RUNTIMES = ("torch", "onnxruntime")
_CACHE_ENV = "SAFETY_CACHE_DIR"
#: Bump when the export recipe changes in a way the key below does not see.
_EXPORT_FORMAT = 1
_OPSET = 17
#: An export whose outputs differ from torch's by more than this on the check batch is rejected.
#: Measured: 2.5e-6 (open_nsfw) and 4.3e-6 (weapons) on the check batch, at most 1.6e-5 on photos
#: (bench/results/compress_image.json, tests/detectors/test_image_ort.py).
EXPORT_TOLERANCE = 1e-3
_INPUT, _OUTPUT = "x", "outputs"
_INSTALL_HINT = "pip install 'safety-filter[fast]' (onnx==1.23.2, onnxruntime==1.32.0)"


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ConfigurationError(f"the onnxruntime image runtime needs the onnxruntime package: {_INSTALL_HINT}") from exc
    return onnxruntime


def cache_dir() -> Path:
    """Where exported graphs are kept (see the module docstring)."""
    env = os.environ.get(_CACHE_ENV)
    if env:
        return Path(env) / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "safety" / "onnx"


class _Forward(torch.nn.Module):
    """``x -> scorer.outputs(scorer.features(x))`` as one module, for the exporter."""

    def __init__(self, scorer: "ViewScorer") -> None:
        super().__init__()
        self.scorer = scorer
        # Registered so that the exporter sees the weights as parameters (and their eval mode).
        self.parts = torch.nn.ModuleList(m for m in vars(scorer).values() if isinstance(m, torch.nn.Module))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scorer.outputs(self.scorer.features(x))


def _source_digest(obj: Any) -> str:
    try:
        return hashlib.sha256(Path(inspect.getfile(obj)).read_bytes()).hexdigest()
    except (OSError, TypeError):
        return "unknown"


def export_key(scorer: "ViewScorer") -> str:
    """A digest of everything the exported graph depends on."""
    artifact = getattr(scorer, "artifact", None)
    if artifact is None:
        raise ModelError(f"{type(scorer).__name__} has no artifact: nothing to key its ONNX export on")
    modules = sorted({type(m).__module__ for part in vars(scorer).values() if isinstance(part, torch.nn.Module)
                      for m in part.modules() if not type(m).__module__.startswith("torch.")})
    lines = [f"format={_EXPORT_FORMAT}", f"opset={_OPSET}", f"torch={torch.__version__}",
             f"scorer={type(scorer).__module__}.{type(scorer).__qualname__}@{_source_digest(type(scorer))}",
             f"artifact={artifact.name}@{artifact.sha256}",
             *(f"module={name}@{_source_digest(sys.modules[name])}" for name in modules if name in sys.modules)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


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
    try:
        import onnx  # noqa: F401 - torch's exporter serialises through it
    except ImportError as exc:
        raise ConfigurationError(f"exporting the image CNNs to ONNX needs the onnx package: {_INSTALL_HINT}") from exc
    # In eval mode: the exporter sets every submodule back to this module's mode afterwards.
    module = _Forward(scorer).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
        torch.onnx.export(module, (check_batch(scorer, 2),), buffer, dynamo=False, opset_version=_OPSET,
                          input_names=[_INPUT], output_names=[_OUTPUT],
                          dynamic_axes={_INPUT: {0: "views"}, _OUTPUT: {0: "views"}})
    return buffer.getvalue()


def _session(model: bytes, threads: int):
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads would otherwise spin after each run, taking a core from the preprocessing
    # and the torch models that run next on the same inference thread: on the 2-core reference
    # machine, spinning made a single run ~2 ms faster but a whole image-cnn call on a 640x480
    # photo ~25 ms slower (91 vs 68 ms p50).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _run(session, x: torch.Tensor) -> torch.Tensor:
    array = np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)
    return torch.from_numpy(session.run([_OUTPUT], {_INPUT: array})[0])


def max_difference(scorer: "ViewScorer", session) -> float:
    """Max abs difference of the session's outputs from torch's on :func:`check_batch`."""
    x = check_batch(scorer)
    with torch.inference_mode():
        reference = scorer.outputs(scorer.features(x))
    return float((_run(session, x) - reference).abs().max())


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cached(path: Path, meta_path: Path, key: str) -> bytes | None:
    """The cached graph when its sidecar names ``key`` and its bytes match the recorded sha256."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        model = path.read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("key") != key or meta.get("onnx_sha256") != hashlib.sha256(model).hexdigest():
        logger.warning("cached ONNX graph %s does not match its record; exporting it again", path)
        return None
    return model


def graph_paths(scorer: "ViewScorer", directory: Path | None = None) -> tuple[Path, Path, str]:
    """(graph, sidecar JSON, key) of ``scorer``'s exported graph in the cache folder."""
    key = export_key(scorer)
    name = f"{scorer.artifact.name}-{key[:24]}"
    directory = directory or cache_dir()
    return directory / f"{name}.onnx", directory / f"{name}.json", key


def load_session(scorer: "ViewScorer", *, threads: int | None = None, directory: Path | None = None):
    """An onnxruntime session running ``scorer``'s forward pass: from the cache when a verified
    graph is there, else exported, checked against torch, and cached (best effort)."""
    _onnxruntime()  # fail with the install hint before spending time on an export
    threads = threads or torch.get_num_threads()
    path, meta_path, key = graph_paths(scorer, directory)
    directory = path.parent
    model = _cached(path, meta_path, key)
    if model is not None:
        return _session(model, threads)
    model = export(scorer)
    session = _session(model, threads)
    difference = max_difference(scorer, session)
    if not difference <= EXPORT_TOLERANCE:
        raise ModelError(f"the ONNX export of {scorer.artifact.name} differs from torch by {difference:.3g}"
                         f" (> {EXPORT_TOLERANCE}); not used")
    meta = {"key": key, "artifact": scorer.artifact.name, "artifact_sha256": scorer.artifact.sha256,
            "onnx_sha256": hashlib.sha256(model).hexdigest(), "bytes": len(model), "torch": torch.__version__,
            "opset": _OPSET, "max_abs_difference_at_export": difference}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, model)
        _write_atomic(meta_path, (json.dumps(meta, indent=2) + "\n").encode())
    except OSError as exc:
        logger.warning("cannot cache the ONNX graph in %s (%s); it will be exported again on the next load",
                       directory, exc)
    return session


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
    if runtime == "torch":
        return list(scorers), ""
    if runtime != "onnxruntime":
        raise ConfigurationError(f"unknown image runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    del explain  # Grad-CAM regions run on the wrapped torch scorer (``OrtScorer.torch``), only for flagged images
    ort = _onnxruntime()
    return [OrtScorer.wrap(s) for s in scorers], f"+onnxruntime@{ort.__version__}"
