"""Integrity of the held-out text evaluation suites under eval/text/ (not model quality)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from safety.evaluation.suites import EVAL_TEXT_DIR, group_masks, labels, load_jsonl, load_suite, suite_path
from tests.eval import load_script

IDENTITY_DIR = EVAL_TEXT_DIR / "identity"
FUNCTIONAL_DIR = EVAL_TEXT_DIR / "functional"
LABEL_KEYS = {"toxicity", "identity_attack", "insult", "threat", "obscene"}
FUNCTIONALITIES = {
    "hate_explicit",
    "hate_dehumanisation",
    "hate_threat",
    "hate_implicit",
    "negated_hate",
    "counter_speech_quote",
    "neutral_group",
    "positive_group",
    "reclaimed_self_reference",
    "profanity_no_target",
    "abuse_individual",
    "abuse_nonprotected_group",
    "threat_individual",
    "benign_with_group_words",
}


@pytest.fixture(scope="module")
def identity_build():
    return load_script(IDENTITY_DIR / "build.py", "identity_build")


@pytest.fixture(scope="module")
def groups(identity_build):
    return identity_build.load_groups()


@pytest.fixture(scope="module")
def templates(identity_build):
    return identity_build.load_templates()


@pytest.fixture(scope="module")
def functional():
    return load_suite("functional")


# --- identity-term template suite ------------------------------------------------------------


def test_suite_path_resolves_in_repository():
    assert suite_path("identity") == IDENTITY_DIR / "suite.jsonl"
    assert suite_path("identity").is_file() and suite_path("functional").is_file()
    with pytest.raises(ValueError):
        suite_path("../identity")


def test_committed_identity_suite_equals_build(identity_build):
    built = identity_build.build_suite()
    assert load_suite("identity") == built
    # byte-for-byte too, so a rerun of build.py leaves no diff
    assert suite_path("identity").read_text(encoding="utf-8") == identity_build.dumps(built)
    assert identity_build.build_suite() == built  # deterministic


def test_identity_groups(groups):
    assert len(groups) >= 18
    ids = [g["id"] for g in groups]
    assert len(set(ids)) == len(ids)
    for group in groups:
        assert group["terms"] and all(isinstance(t, str) and t for t in group["terms"])
        for field in ("axis", "adjective", "plural", "singular", "predicate"):
            assert isinstance(group[field], str) and group[field].strip(), (group["id"], field)
        assert group["singular"].split()[0] in {"a", "an"}, group["id"]
    for required in ("women", "men", "trans", "gay", "lesbian", "bisexual", "black", "white", "asian", "chinese",
                     "mexican", "latino", "jewish", "muslim", "christian", "immigrant", "refugee", "disabled",
                     "mental_illness", "native_american", "arab", "indian", "deaf", "elderly"):
        assert required in ids


def test_identity_templates(templates):
    ids = [t["id"] for t in templates]
    assert len(set(ids)) == len(ids)
    kinds = Counter(t["kind"] for t in templates)
    assert kinds["neutral"] >= 20 and kinds["positive"] >= 15 and kinds["hateful"] >= 20
    for t in templates:
        hateful = int(t["kind"] == "hateful")
        assert t["labels"] == {"toxicity": hateful, "identity_attack": hateful}, t["id"]


def test_identity_rows(groups, templates):
    rows = load_suite("identity")
    ids = [row["id"] for row in rows]
    assert len(set(ids)) == len(ids)
    assert len(rows) == len(groups) * len(templates)
    pairs = {(row["template_id"], row["groups"][0]) for row in rows}
    assert pairs == {(t["id"], g["id"]) for t in templates for g in groups}  # every group x every template
    for row in rows:
        assert set(row) == {"id", "text", "template_id", "kind", "labels", "groups"}
        assert len(row["groups"]) == 1 and row["id"] == f"{row['template_id']}/{row['groups'][0]}"
        assert "{" not in row["text"] and "}" not in row["text"] and row["text"][0].isupper()
        assert "  " not in row["text"]
    # every group has both classes, so its subgroup AUC is defined
    masks = group_masks(rows)
    y = labels(rows, "identity_attack")
    for name, mask in masks.items():
        assert set(y[mask]) == {0, 1}, name


# --- functional suite ------------------------------------------------------------------------


def test_functional_rows(functional, groups):
    ids = [row["id"] for row in functional]
    assert len(set(ids)) == len(ids)
    group_ids = {g["id"] for g in groups}
    texts = [row["text"] for row in functional]
    assert len(set(texts)) == len(texts)
    for row in functional:
        assert set(row) == {"id", "text", "functionality", "labels", "groups"}
        assert row["functionality"] in FUNCTIONALITIES, row["id"]
        assert row["id"].startswith(f"f-{row['functionality']}-")
        assert set(row["labels"]) == LABEL_KEYS, row["id"]
        assert all(v in (0, 1) for v in row["labels"].values()), row["id"]
        assert set(row["groups"]) <= group_ids, row["id"]


def test_every_functionality_has_enough_rows(functional):
    counts = Counter(row["functionality"] for row in functional)
    assert set(counts) == FUNCTIONALITIES
    assert min(counts.values()) >= 12, counts


def test_functional_spec_agrees_with_rows(functional):
    spec = json.loads((FUNCTIONAL_DIR / "functionalities.json").read_text(encoding="utf-8"))
    assert set(spec) == FUNCTIONALITIES
    for row in functional:
        entry = spec[row["functionality"]]
        assert set(entry["scored"]) <= LABEL_KEYS
        for category in entry["scored"]:  # a scored category is uniform within its functionality
            assert row["labels"][category] == entry["expected"][category], (row["id"], category)


def test_functional_label_semantics(functional):
    by_function = {}
    for row in functional:
        by_function.setdefault(row["functionality"], []).append(row)
    for name in ("hate_explicit", "hate_dehumanisation", "hate_threat", "hate_implicit"):
        assert all(r["labels"]["identity_attack"] == 1 and r["groups"] for r in by_function[name]), name
    for name in FUNCTIONALITIES - {"hate_explicit", "hate_dehumanisation", "hate_threat", "hate_implicit"}:
        assert all(r["labels"]["identity_attack"] == 0 for r in by_function[name]), name
    assert all(r["labels"]["threat"] == 1 for r in by_function["hate_threat"] + by_function["threat_individual"])
    assert all(r["labels"]["obscene"] == 1 for r in by_function["profanity_no_target"])
    for name in ("abuse_individual", "abuse_nonprotected_group", "threat_individual", "profanity_no_target"):
        assert all(not r["groups"] for r in by_function[name]), name


def test_load_jsonl_reports_bad_lines(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n{"b": 2}\n', encoding="utf-8")
    assert load_jsonl(path) == [{"a": 1}, {"b": 2}]
    path.write_text('{"a": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=":2:"):
        load_jsonl(path)
