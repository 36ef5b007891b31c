from __future__ import annotations

import logging
import time

import pytest

from safety import moderate, moderate_batch
from safety.detectors.protocol import DetectorKind
from safety.errors import EmptyInputError, InputError, InvalidTextError, TextTooLongError
from safety.limits import InputLimits
from safety.pipeline import Moderator
from safety.schema import ChannelStatus
from safety.taxonomy import Action, Category, Channel
from tests import fakes
from tests.conftest import fake_moderator, png_bytes, spec


def test_done_when_examples_on_the_default_models():
    rude = moderate(text="you are a stupid idiot")
    assert rude.action is not Action.ALLOW and rude.flagged
    assert rude.categories[Category.INSULT].flagged and rude.categories[Category.TOXICITY].flagged
    text = rude.channels[Channel.TEXT]
    assert text.model_id == "minilm-toxicity"
    assert set(text.auxiliary) == {"jigsaw-bilstm"} and text.auxiliary["jigsaw-bilstm"].scores["toxicity"] > 0.9
    assert text.spans and all(0 <= s.start < s.end <= len("you are a stupid idiot") for s in text.spans)
    kind = moderate(text="have a lovely day")
    assert kind.action is Action.ALLOW and not kind.flagged and kind.reasons == []


def test_result_shape_does_not_depend_on_the_input(real_moderator, png):
    shapes = []
    for kwargs in ({"text": "hello there"}, {"image": png}, {"text": "hello there", "image": png}):
        result = real_moderator.moderate(**kwargs)
        shapes.append((set(result.categories), set(result.channels)))
        assert set(result.model_dump(mode="json")) == {
            "id", "flagged", "action", "categories", "channels", "reasons", "policy", "model_bundle", "input", "latency_ms",
            "cached"}
    assert all(shape == (set(Category), set(Channel)) for shape in shapes)


def test_a_plain_image_is_scored_by_the_image_cnn_and_allowed(real_moderator, png):
    result = real_moderator.moderate(image=png)
    image = result.channels[Channel.IMAGE]
    assert image.status is ChannelStatus.OK and image.model_id == "image-cnn" and len(image.model_sha256) == 64
    assert set(image.scores) == {"sexual", "weapons"} and image.regions == []
    weapons = result.categories[Category.WEAPONS]
    # weapons is judged on the combiner's image-only sub-model: a recalibration of the image score
    assert weapons.method == "combiner" and weapons.combiner.model == "image" and weapons.sources == [Channel.IMAGE]
    assert weapons.probability == real_moderator.combiner.explain({"image:weapons": image.scores["weapons"],
                                                                   "image:sexual": image.scores["sexual"]},
                                                                  "weapons")["probability"] < weapons.threshold
    # sexual has no sub-model (no labelled explicit images offline): the image score as it is
    assert result.categories[Category.SEXUAL].method == "max"
    assert result.categories[Category.SEXUAL].probability == image.scores["sexual"]
    assert result.action is Action.ALLOW and result.channels[Channel.CROSS_MODAL].status is ChannelStatus.SKIPPED


def test_the_combiner_explains_each_channels_part_in_a_text_and_image_verdict(real_moderator, png):
    result = real_moderator.moderate(text="have a lovely day", image=png)
    weapons = result.categories[Category.WEAPONS]
    assert weapons.method == "combiner" and weapons.combiner.model == "text+image+cross_modal"
    explained = weapons.combiner
    assert set(explained.contributions) == {Channel.TEXT, Channel.IMAGE, Channel.CROSS_MODAL}
    assert explained.intercept + sum(explained.contributions.values()) == pytest.approx(explained.logit, abs=1e-4)
    # a category the combiner has no model for is the max over the channels that scored it
    insult = result.categories[Category.INSULT]
    assert insult.method == "max" and insult.probability == result.channels[Channel.TEXT].scores["insult"]


def test_without_a_combiner_categories_are_merged_by_their_maximum(png):
    moderator = Moderator(bundle="offline-fast")
    assert moderator.combiner is None
    result = moderator.moderate(text="have a lovely day", image=png)
    scores = [r.scores["weapons"] for c, r in result.channels.items() if "weapons" in r.scores]
    assert result.categories[Category.WEAPONS].probability == max(scores)
    assert all(c.method in ("max", None) and c.combiner is None for c in result.categories.values())


def test_text_and_image_are_checked_together_by_the_cross_modal_channel(real_moderator, png):
    result = real_moderator.moderate(text="have a lovely day", image=png)
    cross = result.channels[Channel.CROSS_MODAL]
    assert cross.status is ChannelStatus.OK and cross.model_id == "cross-modal:conse-imagenet"
    assert {"similarity", "match", "mismatch", "agreement", "compositional"} <= set(cross.scores)
    assert not any(name in cross.scores for name in Category)  # signals, not category scores
    assert result.action is Action.ALLOW and result.reasons == []
    assert result.input.image.width == 32 and result.input.text_chars == len("have a lovely day")


def test_text_and_image_without_a_cross_modal_detector_fail_closed_to_review(png):
    moderator = fake_moderator(text=spec("kw", DetectorKind.TEXT, fakes.KeywordText),
                               image=spec("bright", DetectorKind.IMAGE, fakes.BrightImage))
    result = moderator.moderate(text="have a lovely day", image=png)
    assert result.action is Action.REVIEW
    cross = result.channels[Channel.CROSS_MODAL]
    assert cross.status is ChannelStatus.UNAVAILABLE and "no cross_modal detector" in cross.error.message
    assert {(r.code, r.channel) for r in result.reasons} == {("channel_failed", Channel.CROSS_MODAL)}
    assert moderator.moderate(text="have a lovely day", image=png, policy="strict").action is Action.BLOCK


def test_failing_detector_fails_closed_and_says_which():
    moderator = fake_moderator(text=spec("boom", DetectorKind.TEXT, fakes.Failing))
    result = moderator.moderate(text="perfectly fine")
    assert result.action is Action.REVIEW
    text = result.channels[Channel.TEXT]
    assert text.status is ChannelStatus.ERROR
    assert text.error.type == "detector_error" and "simulated model crash" in text.error.message
    assert result.reasons[-1].channel is Channel.TEXT and "fail closed" in result.reasons[-1].message
    assert all(c.probability is None for c in result.categories.values())


def test_wrong_length_output_is_a_detector_error():
    result = fake_moderator(text=spec("short", DetectorKind.TEXT, fakes.WrongLength)).moderate(text="x")
    assert result.action is Action.REVIEW
    assert "returned 0 results for 1 inputs" in result.channels[Channel.TEXT].error.message


def test_timeout_fails_closed_without_waiting_for_the_detector():
    slow = fakes.Slow()
    moderator = fake_moderator(timeout=0.3, text=spec("slow", DetectorKind.TEXT, fakes.loaded(slow)))
    started = time.monotonic()
    result = moderator.moderate(text="hello")
    slow.release.set()
    assert time.monotonic() - started < 3
    assert result.action is Action.REVIEW
    assert result.channels[Channel.TEXT].status is ChannelStatus.TIMEOUT
    assert result.channels[Channel.TEXT].error.type == "detector_timeout"


def test_cross_modal_is_required_for_text_plus_image():
    moderator = fake_moderator(text=spec("kw", DetectorKind.TEXT, fakes.KeywordText),
                               image=spec("bright", DetectorKind.IMAGE, fakes.BrightImage))
    dark = png_bytes(color=(0, 0, 0))
    assert moderator.moderate(image=dark).action is Action.ALLOW
    both = moderator.moderate(text="nice", image=dark)
    assert both.channels[Channel.CROSS_MODAL].status is ChannelStatus.UNAVAILABLE
    assert both.action is Action.REVIEW
    white = moderator.moderate(image=png_bytes(color=(255, 255, 255)))
    assert white.action is Action.BLOCK and white.categories[Category.WEAPONS].sources == [Channel.IMAGE]


def test_batch_runs_each_channel_once_and_keeps_order():
    keyword = fakes.KeywordText()
    moderator = fake_moderator(text=spec("kw", DetectorKind.TEXT, fakes.loaded(keyword)))
    texts = ["fine", "you idiot", "also fine", "idiot!"]
    results = moderator.moderate_batch([{"text": t} for t in texts])
    assert keyword.batches == [4]
    assert [r.action for r in results] == [Action.ALLOW, Action.BLOCK, Action.ALLOW, Action.BLOCK]
    assert len({r.id for r in results}) == 4
    assert moderator.moderate_batch([]) == []


def test_batch_validation_names_the_item(real_moderator):
    with pytest.raises(EmptyInputError, match="item 1"):
        real_moderator.moderate_batch([{"text": "ok"}, {"text": "   "}])
    with pytest.raises(InputError, match="item 0: unknown keys"):
        real_moderator.moderate_batch([{"txt": "typo"}])
    with pytest.raises(InputError, match="item 0: expected a mapping"):
        real_moderator.moderate_batch(["just a string"])
    with pytest.raises(InputError, match="sequence"):
        real_moderator.moderate_batch("not a list")


def test_module_level_batch_matches_single_calls():
    batch = moderate_batch([{"text": "you are a stupid idiot"}, {"text": "have a lovely day"}])
    single = [moderate(text="you are a stupid idiot"), moderate(text="have a lovely day")]
    for a, b in zip(batch, single):
        assert a.action == b.action
        assert a.categories[Category.TOXICITY].probability == pytest.approx(b.categories[Category.TOXICITY].probability, abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, EmptyInputError),
        ({"text": ""}, EmptyInputError),
        ({"text": " \n\t"}, EmptyInputError),
        ({"text": b"\xff\xfe bad"}, InvalidTextError),
        ({"text": "lone \ud800 surrogate"}, InvalidTextError),
        ({"text": 42}, InvalidTextError),
        ({"text": "x" * 11}, TextTooLongError),
    ],
)
def test_bad_text_inputs_raise_typed_errors(kwargs, error):
    moderator = Moderator(limits=InputLimits(max_text_chars=10))
    with pytest.raises(error) as info:
        moderator.moderate(**kwargs)
    assert info.value.message and info.value.code


def test_blank_text_beside_an_image_counts_as_no_text(real_moderator, png):
    result = real_moderator.moderate(text="  ", image=png)
    assert result.input.text_chars is None
    assert result.channels[Channel.TEXT].status is ChannelStatus.SKIPPED


def test_utf8_bytes_text_is_accepted(real_moderator):
    assert real_moderator.moderate(text="have a lovely day".encode()).action is Action.ALLOW


def test_unknown_policy_is_a_typed_error(real_moderator):
    from safety.errors import UnknownPolicyError

    with pytest.raises(UnknownPolicyError):
        real_moderator.moderate(text="hi", policy="nope")


def test_raw_content_is_never_logged(caplog):
    marker = "SECRET-CONTENT-7f3a"
    caplog.set_level(logging.DEBUG)
    moderator = fake_moderator(text=spec("boom", DetectorKind.TEXT, fakes.Failing))
    moderator.moderate(text=f"{marker} you idiot")
    moderate(text=f"{marker} you idiot")
    assert caplog.records, "the failure should have been logged"
    assert all(marker not in record.getMessage() for record in caplog.records)


def test_texts_of_verdicts_that_are_not_allow_are_explained_with_spans(real_moderator):
    rude, kind = real_moderator.moderate_batch([{"text": "thanks for the help, you stupid idiot"},
                                                {"text": "thanks for the help, have a lovely day"}])
    assert rude.action is not Action.ALLOW and kind.action is Action.ALLOW
    spans = rude.channels[Channel.TEXT].spans
    text = "thanks for the help, you stupid idiot"
    assert spans and {text[s.start:s.end] for s in spans} & {"stupid", "idiot"}
    assert all(rude.categories[s.category].action is not Action.ALLOW for s in spans)
    assert kind.channels[Channel.TEXT].spans == []


class _ExplainerFails(fakes.KeywordText):
    def explain_many(self, requests):
        raise RuntimeError("explainer crashed")


def test_a_failing_explainer_leaves_the_verdict_alone():
    from dataclasses import replace

    moderator = fake_moderator(text=spec("kw", DetectorKind.TEXT, fakes.loaded(_ExplainerFails())))
    moderator.bundle = replace(moderator.bundle, explain_text=True)
    result = moderator.moderate(text="you idiot")
    assert result.action is not Action.ALLOW and result.channels[Channel.TEXT].spans == []
    assert all(r.code != "channel_failed" for r in result.reasons)
