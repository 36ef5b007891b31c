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

Validation: unknown categories, thresholds outside [0, 1] and ``review > block`` are errors
(:class:`~safety.errors.InvalidPolicyError`). A category the policy does not name uses the
policy's defaults: nothing is ever silently disabled.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from safety.errors import InvalidPolicyError, UnknownPolicyError
from safety.schema import CategoryResult, Reason
from safety.taxonomy import Action, Category

_PACKAGE_POLICIES = "safety.policies"


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


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    on_channel_failure: Literal["review", "block"] = "review"
    defaults: Thresholds
    categories: dict[Category, Thresholds] = Field(default_factory=dict)

    def thresholds(self, category: Category) -> Thresholds:
        return self.categories.get(category, self.defaults)

    @property
    def failure_action(self) -> Action:
        return Action(self.on_channel_failure)

    def judge(self, probabilities: Mapping[Category, tuple[float | None, list]]) -> tuple[dict[Category, CategoryResult], list[Reason]]:
        """Apply thresholds to ``{category: (probability or None, sources)}`` for every category."""
        results: dict[Category, CategoryResult] = {}
        reasons: list[Reason] = []
        for category in Category:
            probability, sources = probabilities.get(category, (None, []))
            limits = self.thresholds(category)
            action = Action.ALLOW if probability is None else limits.action(probability)
            results[category] = CategoryResult(
                probability=probability,
                flagged=probability is not None and probability >= limits.review,
                action=action,
                threshold=limits.review,
                block_threshold=limits.block,
                sources=list(sources),
            )
            if action is not Action.ALLOW:
                bound = limits.block if action is Action.BLOCK else limits.review
                reasons.append(Reason(
                    code="category_threshold",
                    action=action,
                    category=category,
                    message=f"{category.value} scored {probability:.3f} (from {', '.join(s.value for s in sources)}),"
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
