from __future__ import annotations

import pytest

from safety.errors import InvalidPolicyError, UnknownPolicyError
from safety.policy import available_policies, get_policy, load_policy_file
from safety.taxonomy import Action, Category

VALID = """
name = "t"
version = "1"
[defaults]
review = 0.4
block = 0.8
[categories.threat]
review = 0.2
block = 0.5
"""


def write(tmp_path, text):
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def test_shipped_policies_load_and_differ():
    assert available_policies() == ["default", "permissive", "strict"]
    default, strict, permissive = (get_policy(n) for n in ("default", "strict", "permissive"))
    for category in Category:
        assert strict.thresholds(category).review <= default.thresholds(category).review <= permissive.thresholds(category).review
    assert strict.failure_action is Action.BLOCK
    assert default.failure_action is Action.REVIEW


def test_unnamed_category_uses_defaults_never_disabled(tmp_path):
    policy = load_policy_file(write(tmp_path, VALID))
    assert policy.thresholds(Category.THREAT).review == 0.2
    assert policy.thresholds(Category.SEXUAL).review == 0.4
    results, reasons = policy.judge({Category.SEXUAL: (0.85, [])})
    assert results[Category.SEXUAL].action is Action.BLOCK
    assert results[Category.SEXUAL].flagged
    assert [r.category for r in reasons] == [Category.SEXUAL]


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ("[categories.hate]\nreview = 0.1\nblock = 0.2\n", "hate"),
        ("[categories.insult]\nreview = 1.5\nblock = 1.6\n", "less than or equal to 1"),
        ("[categories.insult]\nreview = -0.1\nblock = 0.5\n", "greater than or equal to 0"),
        ("[categories.insult]\nreview = 0.9\nblock = 0.5\n", "above block threshold"),
        ('on_channel_failure = "allow"\n', "on_channel_failure"),
        ("surprise = 1\n", "surprise"),
    ],
)
def test_invalid_policies_are_rejected(tmp_path, patch, needle):
    head, _, tail = VALID.partition("[defaults]")
    text = head + patch + "[defaults]" + tail if not patch.startswith("[") else VALID + patch
    with pytest.raises(InvalidPolicyError, match=needle):
        load_policy_file(write(tmp_path, text))


def test_missing_defaults_and_bad_toml(tmp_path):
    with pytest.raises(InvalidPolicyError, match="defaults"):
        load_policy_file(write(tmp_path, 'name = "x"\nversion = "1"\n'))
    with pytest.raises(InvalidPolicyError, match="TOML"):
        load_policy_file(write(tmp_path, "name = \n"))


def test_unknown_policy_name_lists_installed():
    with pytest.raises(UnknownPolicyError, match="default, permissive, strict"):
        get_policy("nope")
    with pytest.raises(UnknownPolicyError):
        get_policy("/does/not/exist.toml")


def test_shared_default_cannot_be_mutated_by_a_caller():
    policy = get_policy("default")
    policy.categories[Category.INSULT] = policy.defaults.model_copy(update={"review": 0.0})
    assert Category.INSULT not in get_policy("default").categories


def test_thresholds_are_inclusive():
    policy = get_policy("default")
    limits = policy.thresholds(Category.INSULT)
    results, _ = policy.judge({Category.INSULT: (limits.review, []),
                               Category.TOXICITY: (policy.thresholds(Category.TOXICITY).block, [])})
    assert results[Category.INSULT].action is Action.REVIEW
    assert results[Category.TOXICITY].action is Action.BLOCK
    assert results[Category.SEVERE_TOXICITY].probability is None
    assert results[Category.SEVERE_TOXICITY].action is Action.ALLOW
