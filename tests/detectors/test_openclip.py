"""OpenCLIP joint embedder, exercised with a tiny randomly initialised model built here.

No CLIP weights exist on the test machines, so a tiny architecture is registered with OpenCLIP,
its weights are generated deterministically and saved with ``torch.save``, and everything goes
through ``OpenCLIPEmbedder.load`` -- the same path real weights take.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import socket

import numpy as np
import pytest
import torch
from PIL import Image

open_clip = pytest.importorskip("open_clip", reason="the OpenCLIP backend needs open-clip-torch")

from safety.detectors.crossmodal.openclip import OpenCLIPEmbedder  # noqa: E402
from safety.errors import (  # noqa: E402
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ConfigurationError,
    InputError,
    ModelError,
)
from safety.images import decode_image  # noqa: E402

TINY = "safety-tiny-test-openclip"
TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TEXTS = ["a photo of a red square", "a smooth colour gradient"]
ATOL = 1e-5

# Computed once with open-clip-torch 3.3.0 / torch 2.14 on CPU (see the module docstring for how
# the weights are made). First 4 dims of each unit embedding, and the image x text cosine matrix.
GOLDEN_TEXT_HEAD = [
    [-0.0421543, -0.1960306, -0.1171351, -0.3172069],
    [-0.0725931, -0.1967133, -0.0592557, -0.3486440],
]
GOLDEN_IMAGE_HEAD = [
    [0.0682061, -0.2378584, -0.5662620, 0.3609798],
    [0.1228312, -0.2583438, -0.5137050, 0.3117111],
]
GOLDEN_COSINE = [
    [-0.1823948, -0.2199833],
    [-0.1836374, -0.2047351],
]


# --- Fixtures. --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    """Register the tiny architecture with OpenCLIP's global registry; unregister it afterwards."""
    from open_clip import factory

    assert TINY not in open_clip.list_models()
    path = tmp_path_factory.mktemp("openclip_config") / f"{TINY}.json"  # the file stem is the name
    path.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(path)
    assert TINY in open_clip.list_models()
    yield TINY
    # add_model_config has no inverse: drop both the path (rescanned on every later call) and the
    # entry (a rescan never removes one).
    factory._MODEL_CONFIG_PATHS[:] = [p for p in factory._MODEL_CONFIG_PATHS if p != path]
    factory._MODEL_CONFIGS.pop(TINY, None)


def tiny_state_dict(tiny_config: str) -> dict[str, torch.Tensor]:
    """Weights for the tiny model that do not depend on OpenCLIP's initialisation order.

    OpenCLIP builds the model at seed 0 (which gives the names and shapes); every tensor is then
    refilled from one seeded generator, in sorted-name order, and the temperature set to CLIP's
    initial 1/0.07.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model(tiny_config, pretrained=None, pretrained_text=False)
    generator = torch.Generator().manual_seed(1234)
    state = {}
    for name, tensor in sorted(model.state_dict().items()):
        if name == "logit_scale":
            state[name] = torch.full_like(tensor, math.log(1 / 0.07))
        elif tensor.is_floating_point():
            state[name] = torch.randn(tensor.shape, generator=generator) * 0.2
        else:  # pragma: no cover - ViT/text towers hold float tensors only
            state[name] = tensor.clone()
    return state


@pytest.fixture(scope="module")
def state(tiny_config) -> dict[str, torch.Tensor]:
    return tiny_state_dict(tiny_config)


@pytest.fixture(scope="module")
def checkpoint(state, tmp_path_factory):
    path = tmp_path_factory.mktemp("openclip_ckpt") / "open_clip_pytorch_model.bin"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def embedder(tiny_config, checkpoint) -> OpenCLIPEmbedder:
    return OpenCLIPEmbedder.load(model_name=tiny_config, checkpoint=checkpoint)


def red_image():
    return decode_image(Image.new("RGB", (64, 48), (220, 20, 20)))


def gradient_image():
    x = np.linspace(0, 255, 64, dtype=np.float64)[None, :, None]
    y = np.linspace(0, 255, 48, dtype=np.float64)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (48, 64, 1)), np.broadcast_to(y, (48, 64, 1)),
                          np.broadcast_to(255 - x, (48, 64, 1))], axis=2)
    return decode_image(rgb.round().astype(np.uint8))


def gif_bytes(colours) -> bytes:
    frames = [Image.new("RGB", (40, 40), colour) for colour in colours]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


# --- Identity and golden outputs. -------------------------------------------------------------


def test_identity(embedder, checkpoint):
    assert embedder.id == f"openclip:{TINY}"
    assert embedder.version == "open_clip_pytorch_model.bin"
    assert embedder.sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert embedder.dim == 16
    assert embedder.logit_scale == pytest.approx(1 / 0.07, rel=1e-6)


def test_golden_embeddings(embedder):
    texts = embedder.embed_texts(TEXTS)
    images = embedder.embed_images([red_image(), gradient_image()])
    for out in (texts, images):
        assert out.shape == (2, 16)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out.norm(dim=1), torch.ones(2), rtol=0, atol=1e-6)
    torch.testing.assert_close(texts[:, :4], torch.tensor(GOLDEN_TEXT_HEAD), rtol=0, atol=ATOL)
    torch.testing.assert_close(images[:, :4], torch.tensor(GOLDEN_IMAGE_HEAD), rtol=0, atol=ATOL)
    torch.testing.assert_close(images @ texts.T, torch.tensor(GOLDEN_COSINE), rtol=0, atol=ATOL)


def test_rows_follow_input_order(embedder):
    red, gradient = red_image(), gradient_image()
    forward = embedder.embed_images([red, gradient])
    backward = embedder.embed_images([gradient, red])
    torch.testing.assert_close(forward, backward.flip(0), rtol=0, atol=1e-6)
    torch.testing.assert_close(embedder.embed_texts(TEXTS[::-1]), embedder.embed_texts(TEXTS).flip(0),
                               rtol=0, atol=1e-6)


def test_empty_inputs(embedder):
    assert embedder.embed_images([]).shape == (0, 16)
    assert embedder.embed_texts([]).shape == (0, 16)


def test_bad_inputs_are_input_errors(embedder):
    with pytest.raises(InputError):
        embedder.embed_texts("a single string")
    with pytest.raises(InputError):
        embedder.embed_texts(["ok", 3])
    with pytest.raises(InputError):
        embedder.embed_images([Image.new("RGB", (8, 8))])


def test_second_load_round_trips(embedder, tiny_config, checkpoint):
    again = OpenCLIPEmbedder.load(model_name=tiny_config, checkpoint=str(checkpoint))
    assert again.sha256 == embedder.sha256
    assert torch.equal(again.embed_texts(TEXTS), embedder.embed_texts(TEXTS))
    images = [red_image(), gradient_image()]
    assert torch.equal(again.embed_images(images), embedder.embed_images(images))


def test_wrapped_checkpoint_with_module_prefix(embedder, tiny_config, state, tmp_path):
    path = tmp_path / "ddp.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    wrapped = OpenCLIPEmbedder.load(model_name=tiny_config, checkpoint=path)
    assert torch.equal(wrapped.embed_texts(TEXTS), embedder.embed_texts(TEXTS))


def test_logit_scale_is_clamped(tiny_config, state, tmp_path):
    path = tmp_path / "hot.bin"
    torch.save({**state, "logit_scale": torch.tensor(math.log(1000.0))}, path)
    assert OpenCLIPEmbedder.load(model_name=tiny_config, checkpoint=path).logit_scale == 100.0


def test_animated_image_is_mean_of_frames(embedder):
    animated = decode_image(gif_bytes([(255, 0, 0), (0, 200, 0), (20, 20, 240)]))
    assert len(animated.frames) == 3
    per_frame = embedder.embed_images([decode_image(frame) for frame in animated.frames])
    assert not torch.allclose(per_frame[0], per_frame[1], atol=1e-3)
    expected = torch.nn.functional.normalize(per_frame.mean(dim=0), dim=0)
    [got] = embedder.embed_images([animated])
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    # Batched with a still image, the animation still gets its own row.
    both = embedder.embed_images([red_image(), animated])
    torch.testing.assert_close(both[1], expected, rtol=0, atol=1e-6)


# --- Errors and the no-network guarantee. -------------------------------------------------------


def test_missing_checkpoint(tiny_config, tmp_path):
    with pytest.raises(ArtifactNotFoundError, match="does not exist"):
        OpenCLIPEmbedder.load(model_name=tiny_config, checkpoint=tmp_path / "absent.bin")
    with pytest.raises(ArtifactNotFoundError, match="not a regular file"):
        OpenCLIPEmbedder.load(model_name=tiny_config, checkpoint=tmp_path)


def test_unknown_model_name(checkpoint):
    with pytest.raises(ConfigurationError, match="unknown OpenCLIP architecture"):
        OpenCLIPEmbedder.load(model_name="safety-no-such-architecture", checkpoint=checkpoint)
    with pytest.raises(ConfigurationError, match="schema"):
        OpenCLIPEmbedder.load(model_name="hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", checkpoint=checkpoint)


def test_checkpoint_missing_a_tensor(tiny_config, state, tmp_path):
    path = tmp_path / "partial.bin"
    torch.save({k: v for k, v in state.items() if k != "text_projection"}, path)
    with pytest.raises(ModelError, match="does not fit"):
        OpenCLIPEmbedder.load(model_name=tiny_config, checkpoint=path)


def test_checkpoint_with_a_wrong_shape(tiny_config, state, tmp_path):
    path = tmp_path / "wide.bin"
    torch.save({**state, "text_projection": torch.zeros(32, 24)}, path)
    with pytest.raises(ModelError, match="does not fit"):
        OpenCLIPEmbedder.load(model_name=tiny_config, checkpoint=path)


@pytest.mark.parametrize("payload", [b"\x00garbage, not a checkpoint" * 10, b""])
def test_garbage_checkpoint(tiny_config, tmp_path, payload):
    path = tmp_path / "garbage.bin"
    path.write_bytes(payload)
    with pytest.raises(ModelError, match="could not read"):
        OpenCLIPEmbedder.load(model_name=tiny_config, checkpoint=path)


def test_checkpoint_digest_is_checked(tiny_config, checkpoint):
    with pytest.raises(ArtifactIntegrityError):
        OpenCLIPEmbedder.load(model_name=tiny_config, checkpoint=checkpoint, expected_sha256="0" * 64)


def test_load_never_touches_the_network(embedder, tiny_config, checkpoint, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("OpenCLIPEmbedder.load tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    offline = OpenCLIPEmbedder.load(model_name=tiny_config, checkpoint=checkpoint)
    assert torch.equal(offline.embed_texts(TEXTS), embedder.embed_texts(TEXTS))


def test_the_cross_modal_detector_runs_on_openclip_exactly_as_on_conse(tiny_config, checkpoint, monkeypatch):
    """The registry's openclip-cross-modal factory, configured through the settings' environment."""
    from safety.detectors.crossmodal.detector import SIGNALS, CrossModalDetector

    monkeypatch.setenv("SAFETY_OPENCLIP_MODEL", tiny_config)
    monkeypatch.setenv("SAFETY_OPENCLIP_CHECKPOINT", str(checkpoint))
    detector = CrossModalDetector.load_openclip()
    assert detector.info.id == f"cross-modal:openclip:{tiny_config}" and len(detector.info.sha256) == 64
    detections = detector.predict_batch([("a red square", red_image()),
                                         ("a gradient", gradient_image())])
    for detection in detections:
        assert set(SIGNALS) <= set(detection.signals) and detection.scores == {}
        assert -1.0 <= detection.signals["similarity"] <= 1.0 and 0.0 <= detection.signals["mismatch"] <= 1.0


def test_the_openclip_cross_modal_detector_needs_its_settings(monkeypatch):
    from safety.detectors.crossmodal.detector import CrossModalDetector

    monkeypatch.delenv("SAFETY_OPENCLIP_MODEL", raising=False)
    monkeypatch.delenv("SAFETY_OPENCLIP_CHECKPOINT", raising=False)
    with pytest.raises(ConfigurationError, match="SAFETY_OPENCLIP_CHECKPOINT"):
        CrossModalDetector.load_openclip()
