"""eval/gates.toml holds: every suite is run through the real default bundle and its gates are
checked (fast suites everywhere, the image suites where ../shared/data exists). This is the CI
gate run; ``safety eval gate`` is the same check from the command line."""

from __future__ import annotations

import pytest

from safety.evaluation.dataset import load_rows
from safety.evaluation.gates import check, format_results, load_gates
from safety.evaluation.harness import evaluate
from safety.evaluation.suites import REPO_ROOT
from safety.policy import get_policy

GATES = load_gates(REPO_ROOT / "eval" / "gates.toml")
IMAGE_SUITES = [name for name in GATES if name.startswith("image-")]


def run_suite(name: str, moderator, tmp_path, split: str | None = None) -> list:
    suite = GATES[name]
    data = REPO_ROOT / suite.data
    summary = evaluate(data, tmp_path / name, moderator=moderator, policy=get_policy("default"),
                       rows=load_rows(data, split=split), progress=False)
    return check(summary, suite)


def test_every_suite_has_gates_and_data():
    assert {"text-functional", "text-identity"} <= {n for n, s in GATES.items() if s.fast}
    for suite in GATES.values():
        assert suite.gates and (REPO_ROOT / suite.data).is_file()


@pytest.mark.parametrize("name", [n for n, s in GATES.items() if s.fast])
def test_fast_suite_gates(name, real_moderator, tmp_path):
    results = run_suite(name, real_moderator, tmp_path)
    assert all(r.passed for r in results), format_results(results)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", IMAGE_SUITES)
def test_image_suite_gates_on_the_eval_split(name, real_moderator, tmp_path):
    results = run_suite(name, real_moderator, tmp_path, split="eval")
    assert all(r.passed for r in results), format_results(results)
