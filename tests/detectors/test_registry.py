from __future__ import annotations

import pytest

from safety.detectors.protocol import DetectorKind, TextDetector
from safety.detectors.registry import Bundle, DetectorSpec, Registry
from safety.errors import ConfigurationError, UnknownDetectorError
from safety.taxonomy import Channel
from tests import fakes


def test_default_registry_is_data():
    registry = Registry.default()
    assert {"minilm-toxicity", "jigsaw-bilstm"} <= set(registry.names())
    bundle = registry.bundle("offline-default")
    assert bundle.detectors == {Channel.TEXT: "minilm-toxicity-ort", Channel.IMAGE: "image-cnn-ort",
                                Channel.CROSS_MODAL: "conse-cross-modal-ort"}
    assert all(registry.spec(n).options["runtime"] == "onnxruntime" for n in bundle.detectors.values())
    assert bundle.explain_text and bundle.combiner == "combiner"  # spans for every verdict that is not allow
    assert bundle.auxiliary == {Channel.TEXT: ("jigsaw-bilstm",)}
    assert registry.bundle("bilstm").detectors == {Channel.TEXT: "jigsaw-bilstm"}
    assert registry.spec("image-cnn").artifacts == ("open_nsfw", "efficientnet_weapons")
    assert len(registry.bundle_digest(bundle)) == 64


def test_the_bundle_digest_covers_every_artifact_of_a_detector(tmp_path, monkeypatch):
    """Changing either artifact of a two-artifact detector changes the bundle digest."""
    import shutil

    from safety.artifacts import load_artifact

    registry = Registry.default()
    bundle = registry.bundle("offline-default")
    before = registry.bundle_digest(bundle)
    for name in ("jigsaw_bilstm", "minilm_toxicity", "open_nsfw", "efficientnet_weapons", "conse_imagenet", "combiner"):
        shutil.copytree(load_artifact(name, verify=False).path, tmp_path / name)
    monkeypatch.setenv("SAFETY_MODELS_DIR", str(tmp_path))
    assert registry.bundle_digest(bundle) == before
    manifest = tmp_path / "efficientnet_weapons" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"version": "', '"version": "x'))
    assert registry.bundle_digest(bundle) != before
    manifest.write_text(manifest.read_text().replace('"version": "x', '"version": "'))
    assert registry.bundle_digest(bundle) == before
    combiner = tmp_path / "combiner" / "manifest.json"
    combiner.write_text(combiner.read_text().replace('"version": "', '"version": "x'))
    assert registry.bundle_digest(bundle) != before  # the combiner is part of what produced a verdict


def test_detectors_are_built_lazily_and_once():
    calls: list = []
    registry = Registry()
    registry.add(DetectorSpec(name="kw", kind=DetectorKind.TEXT, factory=fakes.counting_factory(fakes.KeywordText, calls)))
    assert calls == []
    first = registry.detector("kw")
    assert registry.detector("kw") is first
    assert calls == [1]
    assert isinstance(first, TextDetector)


def test_factory_strings_resolve_and_fail_clearly():
    registry = Registry.from_toml(
        '[detectors.kw]\nkind = "text"\nfactory = "tests.fakes:KeywordText"\n'
        '[detectors.bad]\nkind = "text"\nfactory = "tests.fakes:DoesNotExist"\n'
        '[bundles.b]\ntext = "kw"\n'
    )
    assert registry.detector("kw").info.id == "keyword-text"
    with pytest.raises(ConfigurationError, match="DoesNotExist"):
        registry.detector("bad")


def test_bundle_kind_mismatch_and_unknown_names():
    registry = Registry()
    registry.add(DetectorSpec(name="kw", kind=DetectorKind.TEXT, factory=fakes.KeywordText))
    with pytest.raises(ConfigurationError, match="channel 'image' needs image"):
        registry.add_bundle(Bundle(id="b", detectors={Channel.IMAGE: "kw"}))
    with pytest.raises(UnknownDetectorError, match="known: kw"):
        registry.detector("nope")
    with pytest.raises(UnknownDetectorError):
        registry.bundle("nope")
    with pytest.raises(ConfigurationError, match="invalid"):
        Registry.from_toml('[detectors.x]\nkind = "video"\nfactory = "a:b"\n')


def test_factory_options_come_from_the_registry_data():
    registry = Registry.from_toml(
        '[detectors.kw]\nkind = "text"\nfactory = "tests.fakes:KeywordText"\n'
        '[detectors.bad]\nkind = "text"\nfactory = "tests.fakes:KeywordText"\noptions = { surprise = 1 }\n'
    )
    assert registry.spec("kw").options == {}
    with pytest.raises(ConfigurationError, match="surprise"):
        registry.detector("bad")


def test_fast_bundle_serves_the_same_model_without_spans():
    from safety.pipeline import Moderator
    from safety.taxonomy import Channel

    result = Moderator(bundle="offline-fast").moderate(text="you are a stupid idiot")
    text = result.channels[Channel.TEXT]
    assert text.model_id == "minilm-toxicity" and text.spans == [] and text.auxiliary == {}
    assert result.flagged


def test_the_evaluation_bundle_scores_exactly_like_the_default(real_moderator, png):
    """safety eval runs offline-default-scores (no spans, no regions): its probabilities must be the default's."""
    from safety.pipeline import Moderator

    scores_only = Moderator(bundle="offline-default-scores")
    for item in ({"text": "you are a stupid idiot"}, {"text": "have a lovely day", "image": png}, {"image": png}):
        ours, default = scores_only.moderate(**item), real_moderator.moderate(**item)
        assert {c: r.probability for c, r in ours.categories.items()} == {
            c: r.probability for c, r in default.categories.items()}
        assert ours.action is default.action
        assert ours.channels["text"].spans == [] and ours.channels["image"].regions == []


def test_the_torch_bundle_gives_the_default_bundles_verdicts(real_moderator):
    """offline-torch runs the same models in torch alone: probabilities within rounding of the
    ONNX Runtime default's (so the combiner and thresholds fitted on torch scores apply to both)."""
    import io

    from PIL import Image
    from sklearn.datasets import load_sample_image

    from safety.pipeline import Moderator

    buffer = io.BytesIO()
    Image.fromarray(load_sample_image("china.jpg")).resize((640, 480)).save(buffer, format="JPEG", quality=90)
    photo = buffer.getvalue()  # 640x480: the weapons CNN also scores its tiles
    torch_moderator = Moderator(bundle="offline-torch", cache_size=0)
    items = ({"text": "you are a stupid idiot"}, {"text": "a knife on the table", "image": photo}, {"image": photo})
    for item in items:
        ours, default = torch_moderator.moderate(**item), real_moderator.moderate(**item)
        assert ours.action is default.action and set(ours.categories) == set(default.categories)
        for category, result in ours.categories.items():
            other = default.categories[category].probability
            if result.probability is None:
                assert other is None
            else:
                assert abs(result.probability - other) <= 1e-5, category
        for channel, result in ours.channels.items():
            assert result.model_id == default.channels[channel].model_id  # the same models...
            if result.model_version is not None:  # ...in another runtime
                assert "onnxruntime" not in result.model_version
                assert "onnxruntime" in default.channels[channel].model_version
        for name, score in ours.channels["text"].scores.items() if "text" in item else ():
            assert abs(score - default.channels["text"].scores[name]) <= 1e-5, name
