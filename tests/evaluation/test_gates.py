from __future__ import annotations

import json

import pytest

from safety.errors import ConfigurationError, InputError
from safety.evaluation.gates import Bound, GateResult, Suite, check, format_results, load_gates, load_summary

GATES = """
# one table per suite
[suites.text-functional]
data = "eval/text/functional/suite.jsonl"
fast = true
[suites.text-functional.gates]
"categories.toxicity.auroc" = { min = 0.90 }
"categories.toxicity.f1" = { min = 0.80 }
"fairness.identity_attack.demographic_parity_difference" = { max = 0.2 }
"categories.toxicity.ece" = { min = 0.0, max = 0.05 }

[suites.image-weapons]
data = "eval/image/weapons/suite.jsonl"
"""

SUMMARY = {
    "rows": 120,
    "categories": {"toxicity": {"n": 120, "positives": 40, "auroc": 0.93, "f1": 0.78, "ece": 0.05}},
    "fairness": {"identity_attack": {"demographic_parity_difference": 0.12, "groups": {"u.s": {"rate": 0.4}}}},
}


@pytest.fixture
def suites(tmp_path):
    path = tmp_path / "gates.toml"
    path.write_text(GATES, encoding="utf-8")
    return load_gates(path)


def test_load_gates(suites):
    assert list(suites) == ["text-functional", "image-weapons"]
    functional = suites["text-functional"]
    assert functional.name == "text-functional"
    assert functional.data == "eval/text/functional/suite.jsonl"
    assert functional.fast is True
    assert functional.gates["categories.toxicity.auroc"] == Bound(min=0.9, max=None)
    assert functional.gates["fairness.identity_attack.demographic_parity_difference"] == Bound(None, 0.2)
    assert functional.gates["categories.toxicity.ece"] == Bound(0.0, 0.05)
    weapons = suites["image-weapons"]
    assert weapons.fast is False and weapons.gates == {}
    with pytest.raises(AttributeError):
        functional.data = "other"  # frozen


def test_check_pass_and_fail(suites):
    results = check(SUMMARY, suites["text-functional"])
    assert [r.path for r in results] == list(suites["text-functional"].gates)
    by_path = {r.path: r for r in results}
    assert by_path["categories.toxicity.auroc"].passed and by_path["categories.toxicity.auroc"].value == 0.93
    f1 = by_path["categories.toxicity.f1"]
    assert not f1.passed and f1.value == 0.78 and "0.78 < min 0.8" == f1.reason
    assert by_path["fairness.identity_attack.demographic_parity_difference"].passed
    assert by_path["categories.toxicity.ece"].passed  # bounds are inclusive: 0.05 <= 0.05
    assert [r.passed for r in results] == [True, False, True, True]
    too_high = check({"x": 0.3}, Suite("s", "d", gates={"x": Bound(max=0.2)}))[0]
    assert not too_high.passed and too_high.reason == "0.3 > max 0.2"


def test_unmeasurable_gates_fail():
    suite = Suite("s", "d.jsonl", gates={
        "categories.weapons.auroc": Bound(min=0.5),      # missing category
        "categories.toxicity.auroc": Bound(min=0.5),     # NaN
        "categories.toxicity.f1": Bound(min=0.5),        # null
        "categories.toxicity.n": Bound(min=0.5),         # a table, not a number
        "categories.toxicity.ok": Bound(min=0.5),        # a boolean is not a number either
        "rows.count": Bound(min=0),                      # descends into a number
    })
    summary = {"rows": 10, "categories": {"toxicity": {"auroc": float("nan"), "f1": None, "n": {"a": 1}, "ok": True}}}
    results = check(summary, suite)
    assert not any(r.passed for r in results)
    assert all(r.value is None for r in results)
    reasons = [r.reason for r in results]
    assert reasons[0].startswith("missing") and reasons[5].startswith("missing")
    assert all(reason.startswith("not a number") for reason in reasons[1:5])


def test_check_dotted_keys_and_list_indices():
    # the group name "u.s" itself contains a dot
    suite = Suite("s", "d", gates={"fairness.identity_attack.groups.u.s.rate": Bound(max=0.5)})
    result = check(SUMMARY, suite)[0]
    assert result.passed and result.value == 0.4
    suite = Suite("s", "d", gates={"fairness.identity_attack.groups.u.s": Bound(min=0)})
    assert check(SUMMARY, suite)[0].reason == "not a number: dict"  # a table, not a number
    assert check({"g": {"a.b": {"rate": 0.4}}}, Suite("s", "d", gates={"g.a.b.rate": Bound(max=0.5)}))[0].value == 0.4
    assert check({"xs": [0.1, 0.7]}, Suite("s", "d", gates={"xs.1": Bound(min=0.5)}))[0].passed


def test_format_results(suites):
    text = format_results(check(SUMMARY, suites["text-functional"]))
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("PASS") and "categories.toxicity.auroc" in lines[0] and "0.93" in lines[0]
    assert lines[1].startswith("FAIL") and "0.78 < min 0.8" in lines[1]
    missing = format_results(check({}, suites["text-functional"]))
    assert all(line.startswith("FAIL") and "missing" in line for line in missing.splitlines())
    assert format_results([]) == ""


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('[suites.a]\ndata = "d"\n[suites.a.gates]\n"x.y" = { min = 0.1, mni = 0.2 }\n', r"suite 'a', gate 'x\.y'.*mni"),
        ('[suites.a]\ndata = "d"\n[suites.a.gates]\n"x.y" = {}\n', r"'x\.y'.*needs 'min' or 'max'"),
        ('[suites.a]\ndata = "d"\n[suites.a.gates]\n"x.y" = { min = 0.9, max = 0.1 }\n', r"'x\.y'.*min 0\.9 > max 0\.1"),
        ('[suites.a]\ndata = "d"\n[suites.a.gates]\n"x.y" = { min = "high" }\n', r"'min' must be a finite number"),
        ('[suites.a]\ndata = "d"\n[suites.a.gates]\n"x.y" = { max = nan }\n', r"'max' must be a finite number"),
        ('[suites.a]\ndata = "d"\n[suites.a.gates]\n"x.y" = 0.9\n', r"must be a table"),
        ('[suites.a]\nfast = true\n', r"suite 'a'.*needs 'data'"),
        ('[suites.a]\ndata = "d"\nfast = "yes"\n', r"'fast' must be true or false"),
        ('[suites.a]\ndata = "d"\n[suites.a.gate]\n"x" = { min = 1 }\n', r"suite 'a'.*unknown key.*gate"),
        ('[suite.a]\ndata = "d"\n', r"unknown top-level"),
        ('[suites.a\ndata = "d"\n', r"not valid TOML"),
    ],
)
def test_bad_gate_files_raise(tmp_path, body, match):
    path = tmp_path / "gates.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=match):
        load_gates(path)


def test_missing_gate_file_raises(tmp_path):
    with pytest.raises(ConfigurationError):
        load_gates(tmp_path / "nope.toml")


def test_load_summary(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps(SUMMARY), encoding="utf-8")
    assert load_summary(tmp_path) == SUMMARY
    with pytest.raises(InputError, match="summary.json"):
        load_summary(tmp_path / "missing")
    (tmp_path / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not JSON"):
        load_summary(tmp_path)
    (tmp_path / "summary.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InputError, match="object"):
        load_summary(tmp_path)


def test_gate_result_is_plain_data():
    r = GateResult("a.b", 0.5, Bound(min=0.4), True, "0.5 >= 0.4")
    assert (r.path, r.value, r.passed) == ("a.b", 0.5, True)
    assert str(Bound(0.1, 0.2)) == ">= 0.1, <= 0.2"
