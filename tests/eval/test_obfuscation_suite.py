"""The obfuscation suite (eval/text/obfuscation): the committed file is what the generator builds,
and the normaliser recovers the base sentence from most obfuscated variants.

Recovery: ``normalize()`` of a variant has the same lower-cased words as its base sentence. It is
asserted for the kinds the normaliser is meant to undo in one pass (leet, spaced, homoglyph,
zero_width); "repeats" and "mixed" are reported by ``recovery_rates`` but not asserted (squeezing
to two letters keeps "stuupid", and a mix can combine two documented gaps).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from safety.detectors.text.normalize import normalize, variants
from tests.eval import load_script

REPO = Path(__file__).resolve().parents[2]
SUITE_DIR = REPO / "eval" / "text" / "obfuscation"
KINDS = ("leet", "spaced", "homoglyph", "zero_width", "repeats", "mixed")
ASSERTED = ("leet", "spaced", "homoglyph", "zero_width")
MIN_RECOVERY = 0.90


def _load_generator():
    return load_script(SUITE_DIR / "generate.py", "obfuscation_generate")


@pytest.fixture(scope="module")
def generator():
    return _load_generator()


@pytest.fixture(scope="module")
def suite() -> list[dict]:
    lines = (SUITE_DIR / "suite.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


def recovery_rates(suite: list[dict], *, any_variant: bool = False) -> dict[str, float]:
    """Per obfuscation kind: the share of variants whose normalised words equal the base's."""
    base = {row["id"]: words(row["text"]) for row in suite if row["kind"] == "toxic"}
    hits, totals = Counter(), Counter()
    for row in suite:
        if row["kind"] != "toxic_variant":
            continue
        expected = base[row["base_id"]]
        if any_variant:
            ok = any(words(v.text) == expected for v in variants(row["text"]))
        else:
            ok = words(normalize(row["text"])[0]) == expected
        hits[row["obfuscation"]] += ok
        totals[row["obfuscation"]] += 1
    return {kind: hits[kind] / totals[kind] for kind in totals}


def test_committed_suite_is_what_the_generator_builds(generator, suite):
    built = generator.build_suite()
    assert suite == built
    assert (SUITE_DIR / "suite.jsonl").read_text(encoding="utf-8") == generator.dumps(built)
    assert generator.build_suite() == built  # deterministic


def test_generator_does_not_use_the_normaliser():
    source = (SUITE_DIR / "generate.py").read_text(encoding="utf-8")
    assert "safety" not in re.findall(r"^\s*(?:from|import)\s+(\w+)", source, flags=re.MULTILINE)


def test_ids_are_unique(suite):
    ids = [row["id"] for row in suite]
    assert len(ids) == len(set(ids))


def test_every_toxic_base_has_one_variant_per_kind(suite):
    toxic = [row for row in suite if row["kind"] == "toxic"]
    variants_of = {}
    for row in suite:
        if row["kind"] == "toxic_variant":
            variants_of.setdefault(row["base_id"], []).append(row)
    assert 45 <= len(toxic) <= 60
    for row in toxic:
        found = variants_of.get(row["id"], [])
        assert [v["obfuscation"] for v in found] == list(KINDS), row["id"]
        for v in found:
            assert v["id"] == f"{row['id']}/{v['obfuscation']}"
            assert v["categories"] == row["categories"]
            assert v["text"] != row["text"]
    assert set(variants_of) == {row["id"] for row in toxic}


def test_base_rows_are_well_formed(suite):
    from safety.taxonomy import Category

    categories = {c.value for c in Category}
    benign = [row for row in suite if row["kind"] == "benign"]
    assert 55 <= len(benign) <= 70
    for row in suite:
        if row["kind"] == "toxic":
            assert 5 <= len(row["text"].split()) <= 15, row["id"]
            assert row["categories"] and set(row["categories"]) <= categories, row["id"]
            assert re.fullmatch(r"tox-\d{3}", row["id"])
        elif row["kind"] == "benign":
            assert re.fullmatch(r"ben-\d{3}", row["id"])


def test_scunthorpe_and_number_look_alikes_pass_normalisation_unchanged(suite):
    for row in suite:
        if row["kind"] == "benign" and row["look_alike"] in ("scunthorpe", "numbers"):
            assert variants(row["text"]) == variants(row["text"])[:1], row["id"]


@pytest.mark.parametrize("kind", ASSERTED)
def test_normaliser_recovers_most_variants(suite, kind):
    rate = recovery_rates(suite)[kind]
    assert rate >= MIN_RECOVERY, f"{kind}: {rate:.0%} of variants recovered"
