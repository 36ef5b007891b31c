"""Typed dependencies: handlers ask for what they need, the app state provides it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from safety.inputs import ModerationInput
from safety.pipeline import Moderator
from safety.policy import get_policy
from safety.schema import ModerationResult
from safety.server.batching import MicroBatcher
from safety.server.metrics import Metrics
from safety.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_moderator(request: Request) -> Moderator:
    return request.app.state.moderator


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


class Runner:
    """Runs one request's validated items: through the micro-batcher when batching is on, else
    directly in a worker thread. The policy is resolved first, so an unknown policy is the
    request's own 422 and never fails a batch shared with others."""

    def __init__(self, moderator: Moderator, batcher: MicroBatcher | None, metrics: Metrics) -> None:
        self.moderator = moderator
        self.batcher = batcher
        self.metrics = metrics

    async def __call__(self, items: Sequence[ModerationInput], policy: str | None) -> list[ModerationResult]:
        resolved = None if policy is None else get_policy(policy)
        if self.batcher is not None:
            results = await self.batcher.submit(items, resolved)
        else:
            results = await run_in_threadpool(self.moderator.moderate_inputs, list(items), policy=resolved)
        self.metrics.observe_results(results)
        return results


def get_runner(request: Request) -> Runner:
    state = request.app.state
    return Runner(state.moderator, getattr(state, "batcher", None), state.metrics)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModeratorDep = Annotated[Moderator, Depends(get_moderator)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
RunnerDep = Annotated[Runner, Depends(get_runner)]
