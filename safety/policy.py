"""Policies: per-category review and block thresholds, as data, validated on load.

A policy is a TOML file (``safety/policies/<name>.toml`` ships ``default``, ``strict`` and
``permissive``; any path can be loaded too)::

    name = "default"
    version = "2026.12.0"
    description = "..."
    on_channel_failure = "review"      # or "block"; never "allow" (fail closed)

    [defaults]                         # used by every category the policy does not name
    review = 0.5
    block = 0.9

    [categories.threat]
    review = 0.3
    block = 0.8

    [targets]                          # optional: what fitted thresholds aim for
    block_precision = 0.95             # (python -m safety.training.fit_policy)
    review_recall = 0.9

Validation: unknown categories, thresholds outside [0, 1] and ``review > block`` are errors
(:class:`~safety.errors.InvalidPolicyError`). A category the policy does not name uses the
policy's defaults: nothing is ever silently disabled.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from safety.errors import InvalidPolicyError, UnknownPolicyError
from safety.schema import CategoryResult, CombinerExplanation, Reason
from safety.taxonomy import Action, Category, Channel

_PACKAGE_POLICIES = "safety.policies"


class Evidence(NamedTuple):
    """What the policy judges for one category: a probability, the channels behind it, and how it
    was merged (``safety.combine.merge``)."""

    probability: float | None
    sources: Sequence[Channel] = ()
    method: str | None = None
    combiner: CombinerExplanation | None = None


def _describe(evidence: Evidence) -> str:
    sources = ", ".join(s.value for s in evidence.sources)
    if evidence.combiner is None:
        return f"from {sources}" if sources else "no source"
    parts = ", ".join(f"{c.value} {v:+.2f}" for c, v in sorted(evidence.combiner.contributions.items(),
                                                                 key=lambda kv: -abs(kv[1])))
    return f"combined from {sources}; log-odds contributions {parts}"


class Thresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    review: float = Field(ge=0.0, le=1.0)
    block: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if self.review > self.block:
            raise ValueError(f"review threshold {self.review} is above block threshold {self.block}")
        return self

    def action(self, probability: float) -> Action:
        if probability >= self.block:
            return Action.BLOCK
        if probability >= self.review:
            return Action.REVIEW
        return Action.ALLOW


class Targets(BaseModel):
    """What the policy's fitted thresholds aim for (``python -m safety.training.fit_policy``):
    block where validation precision reaches ``block_precision``, review where validation recall
    still reaches ``review_recall``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    block_precision: float = Field(gt=0.0, le=1.0)
    review_recall: float = Field(gt=0.0, le=1.0)
    #: The least precision the review band may have (at ``prevalence``); it wins over ``review_recall``.
    review_precision: float = Field(0.0, ge=0.0, le=1.0)
    #: The share of harmful content in the traffic the precision target is meant for (validation
    #: precision is reweighted to it); ``None``: as in the validation data.
    prevalence: float | None = Field(None, gt=0.0, lt=1.0)


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    on_channel_failure: Literal["review", "block"] = "review"
    defaults: Thresholds
    categories: dict[Category, Thresholds] = Field(default_factory=dict)
    #: Targets for categories whose thresholds are fitted on validation data; informational at
    #: moderation time.
    targets: Targets | None = None

    def thresholds(self, category: Category) -> Thresholds:
        return self.categories.get(category, self.defaults)

    @property
    def failure_action(self) -> Action:
        return Action(self.on_channel_failure)

    def judge(self, evidence: Mapping[Category, Evidence | tuple]) -> tuple[dict[Category, CategoryResult], list[Reason]]:
        """Apply thresholds to every category's :class:`Evidence` (or ``(probability, sources)``);
        a category without evidence is reported with a null probability and allowed."""
        results: dict[Category, CategoryResult] = {}
        reasons: list[Reason] = []
        for category in Category:
            found = Evidence(*evidence.get(category, (None,)))
            probability, sources = found.probability, list(found.sources)
            limits = self.thresholds(category)
            action = Action.ALLOW if probability is None else limits.action(probability)
            results[category] = CategoryResult(
                probability=probability,
                flagged=probability is not None and probability >= limits.review,
                action=action,
                threshold=limits.review,
                block_threshold=limits.block,
                sources=sources,
                method=found.method if probability is not None else None,
                combiner=found.combiner,
            )
            if action is not Action.ALLOW:
                bound = limits.block if action is Action.BLOCK else limits.review
                reasons.append(Reason(
                    code="category_threshold",
                    action=action,
                    category=category,
                    message=f"{category.value} scored {probability:.3f} ({_describe(found)}),"
                            f" at or above the {action.value} threshold {bound:.3f} of policy {self.name!r}",
                ))
        return results, reasons


def _parse(data: dict, origin: str) -> Policy:
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidPolicyError(f"invalid policy {origin}: {problems}") from None


def load_policy_file(path: str | Path) -> Policy:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnknownPolicyError(f"no policy file at {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise InvalidPolicyError(f"policy file {path} is not readable TOML: {exc}") from exc
    return _parse(data, str(path))


def available_policies() -> list[str]:
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in resources.files(_PACKAGE_POLICIES).iterdir()
        if entry.name.endswith(".toml")
    )


@functools.cache
def _load_packaged(name: str) -> Policy:
    resource = resources.files(_PACKAGE_POLICIES) / f"{name}.toml"
    return _parse(tomllib.loads(resource.read_text(encoding="utf-8")), f"{name!r}")


def get_policy(policy: str | Path | Policy) -> Policy:
    """Resolve a policy given by name (installed), by path (``*.toml``) or as a ``Policy``."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, Path) or str(policy).endswith(".toml"):
        return load_policy_file(policy)
    if policy not in available_policies():
        raise UnknownPolicyError(
            f"unknown policy {policy!r}; installed policies: {', '.join(available_policies())}"
        )
    # A private copy: callers can never mutate the shared, cached default.
    return _load_packaged(policy).model_copy(deep=True)
