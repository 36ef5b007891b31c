"""EfficientNet-Lite0 weapons scorer: class list as data, integrity checks, preprocessing, golden outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from safety.artifacts import load_artifact
from safety.detectors.image.efficientnet import ClassGroups, Preprocess, WeaponsScorer, load_backbone
from safety.detectors.image.cnn import ImageCNNDetector
from safety.detectors.protocol import ImageDetector
from safety.errors import ArtifactIntegrityError, ModelError
from safety.images import decode_image
from safety.taxonomy import Category


@pytest.fixture(scope="module")
def groups() -> ClassGroups:
    return ClassGroups.from_toml(load_artifact("efficientnet_weapons").file("imagenet_weapons.toml").read_text())


@pytest.fixture(scope="module")
def cnn() -> ImageCNNDetector:
    return ImageCNNDetector.load()


def test_weapon_classes_match_imagenet(groups):
    info = pytest.importorskip("timm.data", reason="timm (via open-clip-torch) names the ImageNet classes").ImageNetInfo()
    assert set(groups.names) == {"firearms", "blades", "military"}
    for c in groups.classes:
        assert info.index_to_label_name(c.index) == c.synset
        assert info.index_to_description(c.index).split(",")[0] == c.name
    assert groups.index_matrix().sum(dim=0).tolist() == [len(v) for v in groups.groups.values()]


def test_class_groups_reject_bad_indices():
    with pytest.raises(ModelError, match="outside"):
        ClassGroups.from_toml('[groups.g]\nclasses = [{ index = 1000, synset = "n0", name = "x" }]\n')


def test_backbone_weights_are_integrity_checked(tmp_path):
    fake = tmp_path / "weights.pth"
    fake.write_bytes(b"not the weights")
    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        load_backbone("0" * 64, weights_path=fake)


def test_preprocess_resizes_the_whole_view_and_normalises():
    x = Preprocess()([Image.new("RGB", (640, 100), (255, 127, 0))])
    assert x.shape == (1, 3, 224, 224)
    assert torch.allclose(x[0, :, 100, 100], torch.tensor([128 / 128, 0.0, -127 / 128]))


def test_preprocess_is_per_image_arithmetic_whatever_the_batch_and_modes():
    """The batched conversion gives every view exactly the float32 values of ``(pixel - mean) / std``
    on its own resized RGB copy, whatever its mode or batch mates; an empty batch is empty."""
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)),
              Image.new("L", (50, 90), 30), Image.new("RGBA", (300, 20), (9, 8, 7, 0)),
              Image.fromarray(rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)).convert("P")]
    preprocess = Preprocess()
    batch = preprocess(images)
    assert batch.shape == (4, 3, 224, 224) and batch.dtype == torch.float32 and batch.is_contiguous()
    for image, row in zip(images, batch, strict=True):
        pixels = np.asarray(image.convert("RGB").resize((224, 224), resample=Image.Resampling.BILINEAR), np.float32)
        expected = ((pixels - np.float32(127.0)) / np.float32(128.0)).transpose(2, 0, 1)
        assert torch.equal(row, torch.from_numpy(np.ascontiguousarray(expected)))
        assert torch.equal(preprocess([image])[0], row)
    assert preprocess([]).shape == (0, 3, 224, 224)


def golden_images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 255, 256, dtype=np.float32)
    return [
        Image.fromarray(rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)),
        Image.fromarray(np.stack([np.tile(ramp, (256, 1)), np.tile(ramp[:, None], (1, 256)),
                                  np.full((256, 256), 90.0)], axis=-1).astype(np.uint8)),
        Image.new("RGB", (500, 700), (210, 160, 140)),
    ]


#: The shipped artifacts' scores on ``golden_images()`` (update only with a new model version).
GOLDEN = {Category.WEAPONS: [0.003778, 0.003333, 0.054633], Category.SEXUAL: [0.000396, 0.000265, 0.350238]}


def test_golden_outputs_of_the_shipped_models(cnn):
    assert isinstance(cnn, ImageDetector) and cnn.info.id == "image-cnn"
    detections = cnn.predict_batch([decode_image(image) for image in golden_images()])
    for category, expected in GOLDEN.items():
        np.testing.assert_allclose([d.scores[category] for d in detections], expected, rtol=2e-3, atol=2e-6)


def test_weapons_scorer_reports_its_top_imagenet_classes(cnn):
    (detection,) = cnn.predict_batch([decode_image(golden_images()[0])])
    imagenet = [k for k in detection.raw_scores if k.startswith("imagenet:")]
    assert len(imagenet) == 3 and detection.raw_scores["weapons"] == pytest.approx(detection.scores[Category.WEAPONS])
    assert set(detection.scores) == {Category.SEXUAL, Category.WEAPONS}


def test_tiles_are_a_load_option():
    assert WeaponsScorer.load(tiles=False).grid is None
    assert WeaponsScorer.load().grid is not None


@pytest.mark.parametrize("image", [
    Image.new("RGB", (1, 1), (255, 0, 0)),
    Image.new("RGB", (1, 5000), (20, 20, 20)),  # extreme aspect ratio: shorter side 1 px, no tiles
    Image.new("L", (3000, 2), 128),
    Image.new("CMYK", (500, 500), (0, 255, 255, 0)),
    Image.new("RGBA", (600, 600), (0, 0, 0, 0)),  # fully transparent: composited over white
], ids=["1x1", "1x5000", "3000x2-grey", "cmyk", "transparent"])
def test_degenerate_images_get_valid_scores(cnn, image):
    (detection,) = cnn.predict_batch([decode_image(image)])
    assert set(detection.scores) == {Category.SEXUAL, Category.WEAPONS}
    assert all(0.0 <= p <= 1.0 and np.isfinite(p) for p in detection.scores.values())
    for region in detection.regions:
        x0, y0, x1, y1 = region.box
        assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height


def test_animated_images_are_scored_on_their_sampled_frames(cnn):
    import io

    frames = [Image.new("RGB", (64, 64), (i * 30, 80, 200 - i * 20)) for i in range(10)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    animated = decode_image(buffer.getvalue())
    assert animated.n_frames == 10 and len(animated.frames) == 8
    (detection,) = cnn.predict_batch([animated])
    per_frame = cnn.predict_batch([decode_image(frame) for frame in animated.frames])
    for category in (Category.SEXUAL, Category.WEAPONS):
        assert detection.scores[category] == pytest.approx(max(d.scores[category] for d in per_frame), abs=1e-6)
