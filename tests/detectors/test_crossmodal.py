"""The cross-modal detector's signals on a transparent embedder, the prompt bank as data, and
the shipped ConSE embedding (golden values; held-out pairs where ../shared exists)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from safety.detectors.crossmodal.detector import SIGNALS, CrossModalDetector
from safety.detectors.crossmodal.embedding import JointEmbedder, PromptBank
from safety.detectors.protocol import TextImageDetector
from safety.errors import ConfigurationError
from safety.images import decode_image

BANK = PromptBank.from_toml("""
[unsafe.gun]
category = "weapons"
prompts = ["gun"]
[safe.dog]
prompts = ["dog"]
[safe.tree]
prompts = ["tree"]
""")
AXES = {"gun": 0, "dog": 1, "tree": 2}


class AxisEmbedder:
    """Texts and images are unit vectors along named axes: ``gun``, ``dog``, ``tree``.

    A text is embedded along the axis its first word names; an image along the axis of its red,
    green or blue channel, whichever is brightest (red = gun, green = dog, blue = tree)."""

    id, version, sha256, dim, logit_scale = "axes", "0", "0" * 64, 3, 10.0

    def embed_texts(self, texts):
        return torch.eye(3)[[AXES[t.split()[0]] for t in texts]]

    def embed_images(self, images):
        return torch.eye(3)[[int(np.argmax(np.asarray(i.first).reshape(-1, 3).mean(0))) for i in images]]


def image(rgb) -> object:
    return decode_image(Image.new("RGB", (8, 8), rgb))


GUN, DOG = image((250, 0, 0)), image((0, 250, 0))


@pytest.fixture
def detector() -> CrossModalDetector:
    return CrossModalDetector(embedder=AxisEmbedder(), bank=BANK)


def test_protocols(detector):
    assert isinstance(AxisEmbedder(), JointEmbedder) and isinstance(detector, TextImageDetector)
    assert detector.info.id == "cross-modal:axes"


def test_signals_follow_their_definitions(detector):
    safe_over_gun, gun_over_gun, dog_over_dog = detector.predict_batch([("dog please", GUN), ("gun here", GUN),
                                                                        ("dog again", DOG)])
    for detection in (safe_over_gun, gun_over_gun, dog_over_dog):
        assert set(SIGNALS) | {"image:gun", "text:gun"} == set(detection.signals) and detection.scores == {}
    e = np.exp(10.0)
    high, low = e / (e + 2), 1 / (e + 2)  # softmax mass on the matching axis / on each other one
    s = safe_over_gun.signals
    assert s["similarity"] == pytest.approx(0.0) and s["match"] == pytest.approx(0.5)  # uncalibrated
    assert s["image_unsafe"] == pytest.approx(high) and s["text_unsafe"] == pytest.approx(low)
    assert s["mismatch"] == pytest.approx(high * (1 - low) * 0.5)
    assert s["agreement"] == pytest.approx(low)
    g = gun_over_gun.signals
    assert g["similarity"] == pytest.approx(1.0) and g["mismatch"] == pytest.approx(0.0)
    assert g["agreement"] == pytest.approx(high)
    assert g["compositional"] == pytest.approx(0.0, abs=1e-6)  # together no worse than either alone
    assert dog_over_dog.signals["mismatch"] < 1e-3 and dog_over_dog.signals["image_unsafe"] == pytest.approx(low)
    assert s["mismatch"] > 100 * dog_over_dog.signals["mismatch"]


def test_a_match_calibrator_maps_similarity(detector):
    class Half:
        def predict_proba(self, scores):
            return np.full(len(scores), 0.25)

    calibrated = CrossModalDetector(embedder=AxisEmbedder(), bank=BANK, match_calibrator=Half())
    (detection,) = calibrated.predict_batch([("dog", GUN)])
    assert detection.signals["match"] == 0.25
    assert calibrated.predict_batch([]) == []


@pytest.mark.parametrize(("toml", "message"), [
    ('[unsafe.a]\nprompts = []\n[safe.b]\nprompts = ["x"]\n', "non-empty"),
    ('[unsafe.a]\nprompts = ["x"]\ncategory = "nope"\n[safe.b]\nprompts = ["y"]\n', "unknown category"),
    ('[unsafe.a]\nprompts = ["x"]\n[safe.a]\nprompts = ["y"]\n', "unique"),
    ('[unsafe.a]\nprompts = ["x"]\n', "both unsafe and safe"),
])
def test_prompt_bank_is_validated(toml, message):
    with pytest.raises(ConfigurationError, match=message):
        PromptBank.from_toml(toml)


def test_the_packaged_prompt_bank_loads_and_a_missing_one_is_a_configuration_error(tmp_path):
    bank = PromptBank.load()
    assert {c.name for c in bank.concepts if c.unsafe} >= {"firearms", "blades", "explicit"}
    with pytest.raises(ConfigurationError, match="cannot read"):
        PromptBank.load(tmp_path / "missing.toml")


# -- the shipped ConSE embedding ------------------------------------------------------------------


@pytest.fixture(scope="module")
def conse() -> CrossModalDetector:
    return CrossModalDetector.load_conse()


#: The shipped artifacts' signals for GOLDEN_PAIRS (update only with a new model version).
GOLDEN_PAIRS = (("a red square on a white wall", (220, 30, 30)), ("a cute puppy", (90, 160, 220)))
GOLDEN = {"similarity": [0.009417, 0.055735], "mismatch": [0.548295, 0.331864], "image_unsafe": [0.942108, 0.439253]}


def test_conse_golden_signals(conse):
    detections = conse.predict_batch([(text, image(rgb)) for text, rgb in GOLDEN_PAIRS])
    for name, expected in GOLDEN.items():
        np.testing.assert_allclose([d.signals[name] for d in detections], expected, rtol=1e-3, atol=1e-5)


def test_conse_embeddings_are_unit_vectors_in_one_space(conse):
    embedder = conse.embedder
    texts = embedder.embed_texts(["a dog on a beach", "a plate of food"])
    images = embedder.embed_images([image((200, 180, 140))])
    assert texts.shape == (2, embedder.dim) and images.shape == (1, embedder.dim) == (1, 384)
    assert torch.allclose(texts.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(images.norm(dim=1), torch.ones(1), atol=1e-5)


@pytest.mark.shared_data
def test_conse_on_held_out_caption_pairs_and_benign_text_over_weapons(conse):
    """A fixed slice of the eval suite (the full figures: python -m safety.evaluation.crossmodal_report)."""
    from safety.evaluation import metrics
    from safety.evaluation.crossmodal_report import SUITE, report, score
    from safety.evaluation.suites import load_jsonl

    rows = load_jsonl(SUITE)
    picked = [r for r in rows if r["kind"] in ("matched", "shuffled") and r["image_id"].startswith("coco-")][:120]
    picked += [r for r in rows if r["kind"] == "benign_text_unsafe_image"][:20]
    signals = score(conse, picked)
    result = report(picked, signals)
    # Measured on the whole suite: 0.953 and 94.5% (bars 0.93 and 80%).
    assert result["matched_vs_shuffled"]["coco"]["similarity"] >= 0.9
    assert result["mismatch"]["recall_benign_text_over_weapons"] >= 0.8
    assert metrics.auroc(*zip(*[(1, m) for m in signals["mismatch"][-20:]] + [(0, m) for m, r in zip(
        signals["mismatch"], picked) if r["kind"] == "matched"])) >= 0.9
