"""The image CNNs in ONNX Runtime (``safety.detectors.image.onnx_runtime``) against torch.

Tolerances, measured on the photos below (scikit-learn's china and flower, seeded noise, a flat
skin-tone strip) on the 2-core reference machine: the largest difference of a view's outputs
(logit, ImageNet probabilities) was 1.6e-5 for open_nsfw and 2.1e-6 for the weapons scorer, of
a calibrated probability 2.2e-6; the bounds below leave a margin of about 5x for other CPUs'
kernels.
"""

from __future__ import annotations

import hashlib
import sys
import threading

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_image

from safety.detectors import ort
from safety.detectors.image import onnx_runtime
from safety.detectors.image.cnn import ImageCNNDetector
from safety.detectors.image.efficientnet import WeaponsScorer
from safety.detectors.image.onnx_runtime import OrtScorer, check_batch, for_runtime
from safety.detectors.image.open_nsfw import OpenNSFWScorer
from safety.detectors.protocol import ImageDetector
from safety.detectors.registry import Registry
from safety.errors import ConfigurationError
from safety.images import decode_image
from safety.taxonomy import Category, Channel

OUTPUT_TOLERANCE = 1e-4
PROBABILITY_TOLERANCE = 1e-5


def photos() -> list[Image.Image]:
    images = [Image.fromarray(load_sample_image(n)) for n in ("china.jpg", "flower.jpg")]
    rng = np.random.default_rng(3)
    images.append(Image.fromarray(rng.integers(0, 256, size=(300, 500, 3), dtype=np.uint8)))
    images.append(Image.new("RGB", (64, 640), (250, 200, 180)))
    return images


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache") / "onnx"


@pytest.fixture(scope="module")
def scorers(cache):
    """(torch scorer, its onnxruntime wrapper) for both CNNs, graphs exported into ``cache``."""
    pairs = []
    for torch_scorer in (OpenNSFWScorer.load(), WeaponsScorer.load()):
        pairs.append((torch_scorer, OrtScorer.wrap(torch_scorer, directory=cache)))
    return pairs


@pytest.fixture(scope="module")
def ort_detector(cache, scorers):
    """As the registry builds it, graphs read from the cache the ``scorers`` fixture filled."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETY_CACHE_DIR", str(cache.parent))  # graphs live in $SAFETY_CACHE_DIR/onnx
        mp.setattr(onnx_runtime, "export", lambda s: pytest.fail("the graphs should come from the cache"))
        return ImageCNNDetector.load(runtime="onnxruntime", explain=False)


def test_outputs_match_torch_on_fixed_photos(scorers):
    images = photos()
    for torch_scorer, ort_scorer in scorers:
        x = torch_scorer.preprocess(images)
        assert torch.equal(ort_scorer.preprocess(images), x)
        with torch.inference_mode():
            reference = torch_scorer.outputs(torch_scorer.features(x))
        ours = ort_scorer.outputs(ort_scorer.features(x))
        assert ours.shape == reference.shape and ours.dtype == torch.float32
        assert float((ours - reference).abs().max()) <= OUTPUT_TOLERANCE, type(torch_scorer).__name__
        np.testing.assert_allclose(ort_scorer.probability(ours[:, 0].double().numpy()),
                                   torch_scorer.probability(reference[:, 0].double().numpy()),
                                   rtol=0, atol=PROBABILITY_TOLERANCE)
        assert [d.keys() for d in ort_scorer.describe(ours)] == [d.keys() for d in torch_scorer.describe(reference)]
        # the batch axis is dynamic: one view at a time gives the same rows
        single = torch.cat([ort_scorer.outputs(row[None]) for row in x])
        assert float((single - ours).abs().max()) <= OUTPUT_TOLERANCE


def test_cache_ids_differ_from_torch_and_the_rest_delegates(scorers):
    for torch_scorer, ort_scorer in scorers:
        assert ort_scorer.cache_id == f"{torch_scorer.cache_id}+ort" != torch_scorer.cache_id
        assert ort_scorer.category is torch_scorer.category
        assert (ort_scorer.grid, ort_scorer.input_size, ort_scorer.window, ort_scorer.artifact) == (
            torch_scorer.grid, torch_scorer.input_size, torch_scorer.window, torch_scorer.artifact)
    weapons_torch, weapons_ort = scorers[1]
    assert weapons_ort.groups is weapons_torch.groups  # attributes the wrapper lacks are the scorer's
    assert all(not m.training for s, _ in scorers for m in vars(s).values() if isinstance(m, torch.nn.Module)), \
        "exporting must leave the torch modules in eval mode"


def test_the_exported_graph_is_cached_verified_and_reexported_when_damaged(scorers, cache, monkeypatch):
    torch_scorer, _ = scorers[1]  # the smaller graph
    ort.wait_for_cache_writes()
    path, meta, _ = onnx_runtime.graph_paths(torch_scorer, cache)
    assert path.is_file() and meta.is_file()
    exports: list = []
    real_export = onnx_runtime.export
    monkeypatch.setattr(onnx_runtime, "export", lambda s: exports.append(s) or real_export(s))
    OrtScorer.wrap(torch_scorer, directory=cache)
    assert exports == []  # served from the cache
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")  # same size, different bytes
    OrtScorer.wrap(torch_scorer, directory=cache)
    assert exports == [torch_scorer]
    ort.wait_for_cache_writes()
    OrtScorer.wrap(torch_scorer, directory=cache)
    assert len(exports) == 1  # the re-export was cached again


def test_the_cache_is_written_in_the_background_and_a_load_meanwhile_reuses_the_export(scorers, tmp_path, monkeypatch):
    torch_scorer, _ = scorers[1]
    release = threading.Event()
    real_store = ort._store
    monkeypatch.setattr(ort, "_store", lambda *args: release.wait(30) and real_store(*args))
    exports: list = []
    real_export = onnx_runtime.export
    monkeypatch.setattr(onnx_runtime, "export", lambda s: exports.append(s) or real_export(s))
    first = OrtScorer.wrap(torch_scorer, directory=tmp_path)  # returns before the graph is on disk
    path, meta, _ = onnx_runtime.graph_paths(torch_scorer, tmp_path)
    assert not path.exists()
    second = OrtScorer.wrap(torch_scorer, directory=tmp_path)  # the same graph, from memory
    assert len(exports) == 1
    x = check_batch(torch_scorer, 2)
    assert torch.equal(first.outputs(x), second.outputs(x))
    release.set()
    ort.wait_for_cache_writes()
    assert path.is_file() and meta.is_file()
    OrtScorer.wrap(torch_scorer, directory=tmp_path)
    assert len(exports) == 1  # and from the disk once written


def test_the_ort_detector_returns_the_torch_detectors_schema(ort_detector, scorers):
    """``ImageCNNDetector.load(runtime="onnxruntime")`` against a torch detector on the same scorers."""
    torch_scorers = [t for t, _ in scorers]
    torch_detector = ImageCNNDetector(scorers=torch_scorers, info=ort_detector.info, explain=False)
    artifacts = [s.artifact for s in torch_scorers]
    assert isinstance(ort_detector, ImageDetector)
    assert ort_detector.info.id == "image-cnn" and not ort_detector.explain  # the same model; the version says the runtime
    assert [type(s) for s in ort_detector.scorers] == [OrtScorer, OrtScorer]
    assert ort_detector.info.version == "+".join(f"{a.name}@{a.version}" for a in artifacts) + \
        f"+onnxruntime@{onnxruntime.__version__}"
    # the same artifacts, so the same digest as image-cnn's
    assert ort_detector.info.sha256 == hashlib.sha256("\n".join(a.sha256 for a in artifacts).encode()).hexdigest()
    # 640x480: the weapons scorer also scores tiles
    images = [decode_image(img.resize((640, 480))) for img in photos()[:2]]
    ours, theirs = ort_detector.predict_batch(images), torch_detector.predict_batch(images)
    for a, b in zip(ours, theirs, strict=True):
        assert set(a.scores) == set(b.scores) == {Category.SEXUAL, Category.WEAPONS}
        assert set(a.raw_scores) == set(b.raw_scores)
        assert a.regions == b.regions == ()
        for category in a.scores:
            assert abs(a.scores[category] - b.scores[category]) <= PROBABILITY_TOLERANCE


def test_runtime_option_errors_are_configuration_errors(monkeypatch):
    with pytest.raises(ConfigurationError, match="unknown runtime 'tensorrt'"):
        for_runtime([], runtime="tensorrt", explain=False)
    with pytest.raises(ConfigurationError, match="unknown runtime"):
        ImageCNNDetector.load(runtime="tensorrt")
    assert for_runtime([], runtime="torch", explain=True) == ([], "")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    with pytest.raises(ConfigurationError, match=r"pip install onnx==[\d.]+ onnxruntime==[\d.]+"):
        for_runtime([], runtime="onnxruntime", explain=False)


def test_registry_entries():
    registry = Registry.default()
    spec = registry.spec("image-cnn-ort")
    assert spec.options == {"runtime": "onnxruntime"}
    assert spec.artifacts == registry.spec("image-cnn").artifacts
    bundle = registry.bundle("offline-default")
    assert bundle.detectors == {Channel.TEXT: "minilm-toxicity-ort", Channel.IMAGE: "image-cnn-ort",
                                Channel.CROSS_MODAL: "conse-cross-modal-ort"}
    # ORT probabilities are within 3e-6 of torch's: the combiner fitted on torch scores applies
    assert bundle.combiner == "combiner" and bundle.explain_text
    torch_bundle = registry.bundle("offline-torch")
    assert (torch_bundle.combiner, torch_bundle.explain_text, torch_bundle.auxiliary) == (
        bundle.combiner, bundle.explain_text, bundle.auxiliary)
    assert registry.spec(torch_bundle.detectors[Channel.IMAGE]).artifacts == spec.artifacts
    assert registry.bundle_digest(bundle) != registry.bundle_digest(torch_bundle)


def test_regions_and_shared_passes_in_the_ort_bundle():
    """offline-default: a flagged photo gets its Grad-CAM region from the torch model behind the
    session, and the cross-modal check reads the image channel's ORT view outputs."""
    from safety.detectors.image.shared import VIEW_CACHE
    from safety.pipeline import Moderator

    moderator = Moderator(bundle="offline-default", cache_size=0)
    detector = moderator.registry.detector("conse-cross-modal-ort")
    assert all(s.cache_id.endswith("+ort") for s in (detector.embedder.weapons, detector.embedder.nsfw))
    VIEW_CACHE.clear()
    before = VIEW_CACHE.hits
    frame = photos()[0]
    result = moderator.moderate(text="a sunny day", image=frame)
    assert result.channels[Channel.CROSS_MODAL].status.value == "ok"
    assert VIEW_CACHE.hits - before >= 2  # the cross-modal check found the image channel's passes of both CNNs
    from safety.detectors.image.views import View

    image = moderator.registry.detector("image-cnn-ort")
    region = image._region(image.scorers[1], [frame], View(0, (0, 0, *frame.size), "whole"), 0.9)
    assert region.method in ("grad_cam", "view") and region.category.value == "weapons"
