"""Micro-batching, the bounded queue, and /metrics, on transparent fake detectors."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from safety.detectors.protocol import DetectorKind
from safety.errors import OverloadedError
from safety.inputs import prepare
from safety.limits import InputLimits
from safety.policy import get_policy
from safety.server import create_app
from safety.server.batching import MicroBatcher
from safety.settings import Settings
from tests import fakes
from tests.conftest import fake_moderator, spec

LIMITS = InputLimits()


def keyword_moderator(**kwargs):
    detector = fakes.KeywordText()
    moderator = fake_moderator(text=spec("kw", DetectorKind.TEXT, fakes.loaded(detector)), **kwargs)
    moderator.cache.max_entries = 0  # every request reaches the detector
    return moderator, detector


def run_concurrently(batcher: MicroBatcher, texts: list[str], policies=None):
    async def main():
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit([prepare(t, None, limits=LIMITS)], (policies or [None] * len(texts))[i])
                                          for i, t in enumerate(texts)))
        finally:
            await batcher.stop()
    return asyncio.run(main())


def test_concurrent_requests_share_one_model_batch_and_keep_their_order():
    moderator, detector = keyword_moderator()
    sizes = []
    batcher = MicroBatcher(moderator, max_size=16, max_wait_ms=200, on_batch=lambda n, waited: sizes.append(n))
    texts = [f"text {i}" + (" idiot" if i % 3 == 0 else "") for i in range(10)]
    results = run_concurrently(batcher, texts)
    assert detector.batches == [10] and sizes == [10]
    assert [r[0].flagged for r in results] == [i % 3 == 0 for i in range(10)]


def test_batches_are_bounded_in_size():
    moderator, detector = keyword_moderator()
    batcher = MicroBatcher(moderator, max_size=4, max_wait_ms=200)
    run_concurrently(batcher, [f"t{i}" for i in range(10)])
    assert detector.batches == [4, 4, 2]


def test_without_a_wait_a_lone_request_runs_at_once_and_arrivals_during_a_run_form_the_next_batch():
    """The default ``max_wait_ms=0``: the first request does not wait for company; the requests
    that arrive while its batch runs are gathered into one batch when it ends."""
    slow = fakes.Slow()
    moderator = fake_moderator(text=spec("slow", DetectorKind.TEXT, fakes.loaded(slow)), timeout=5)
    moderator.cache.max_entries = 0
    sizes: list[int] = []
    batcher = MicroBatcher(moderator, max_size=32, on_batch=lambda n, waited: sizes.append(n))
    assert batcher.max_wait_s == 0.0

    async def main():
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.submit([prepare("first", None, limits=LIMITS)], None))
            while not sizes:  # the first batch started with one item, without waiting
                await asyncio.sleep(0.001)
            later = [asyncio.ensure_future(batcher.submit([prepare(f"t{i}", None, limits=LIMITS)], None))
                     for i in range(5)]
            await asyncio.sleep(0.05)
            assert sizes == [1] and batcher.depth == 5  # queued behind the running batch
            slow.release.set()
            return await asyncio.gather(first, *later)
        finally:
            await batcher.stop()

    results = asyncio.run(main())
    assert sizes == [1, 5] and len(results) == 6


def test_each_request_keeps_its_own_policy_inside_a_shared_batch():
    moderator, detector = keyword_moderator()
    batcher = MicroBatcher(moderator, max_size=8, max_wait_ms=200)
    lenient = get_policy("default").model_copy(update={"name": "lenient", "defaults": get_policy("permissive").defaults})
    strict_review = get_policy("strict")
    (a,), (b,) = run_concurrently(batcher, ["mild text", "mild text"], [lenient, strict_review])
    assert detector.batches == [2]
    assert a.policy.name == "lenient" and b.policy.name == "strict"
    assert a.categories["insult"].threshold != b.categories["insult"].threshold


def test_a_full_queue_refuses_at_once_with_a_retry_hint():
    slow = fakes.Slow()
    moderator = fake_moderator(text=spec("slow", DetectorKind.TEXT, fakes.loaded(slow)), timeout=5)
    batcher = MicroBatcher(moderator, max_size=1, max_wait_ms=0, max_queue=2)

    async def main():
        batcher.start()
        first = asyncio.ensure_future(batcher.submit([prepare("a", None, limits=LIMITS)], None))
        await asyncio.sleep(0.2)  # the worker took it: the slow detector is running
        queued = [asyncio.ensure_future(batcher.submit([prepare(t, None, limits=LIMITS)], None)) for t in ("b", "c")]
        await asyncio.sleep(0.05)
        with pytest.raises(OverloadedError) as refused:
            await batcher.submit([prepare("d", None, limits=LIMITS)], None)
        slow.release.set()
        done = await asyncio.gather(first, *queued)
        await batcher.stop()
        return refused.value, done

    refused, done = asyncio.run(main())
    assert refused.retry_after_s >= 1 and "queue is full" in refused.message
    assert len(done) == 3  # nothing already accepted was lost


def test_a_batch_that_raises_fails_every_request_in_it():
    moderator, _ = keyword_moderator()
    batcher = MicroBatcher(moderator, max_size=8, max_wait_ms=100)

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    moderator.moderate_inputs = explode

    async def main():
        batcher.start()
        outcome = await asyncio.gather(*(batcher.submit([prepare(t, None, limits=LIMITS)], None) for t in ("x", "y")),
                                       return_exceptions=True)
        await batcher.stop()
        return outcome

    assert [type(o) for o in asyncio.run(main())] == [RuntimeError, RuntimeError]


def test_the_worker_survives_a_failing_batch_and_serves_the_next():
    moderator, detector = keyword_moderator()
    calls = []

    def flaky_metrics(size, waited):
        calls.append(size)
        if len(calls) == 1:
            raise ValueError("metrics backend hiccup")

    batcher = MicroBatcher(moderator, max_size=8, max_wait_ms=50, on_batch=flaky_metrics)

    async def main():
        batcher.start()
        first = await asyncio.gather(batcher.submit([prepare("x", None, limits=LIMITS)], None), return_exceptions=True)
        second = await batcher.submit([prepare("you idiot", None, limits=LIMITS)], None)
        await batcher.stop()
        return first, second

    first, second = asyncio.run(main())
    assert isinstance(first[0], ValueError) and second[0].flagged and calls == [1, 1]


@pytest.fixture
def batched_client():
    moderator, detector = keyword_moderator()
    app = create_app(Settings(batch_max_size=8, batch_wait_ms=1, max_queue=2, preload=False), moderator=moderator)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, detector


def test_over_http_a_request_larger_than_the_queue_gets_503_with_retry_after(batched_client):
    client, _ = batched_client
    response = client.post("/v1/moderations", json={"input": ["a", "b", "c"]})
    assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
    assert response.json()["error"]["code"] == "overloaded"
    ok = client.post("/v1/moderate", json={"text": "you idiot"})
    assert ok.status_code == 200 and ok.json()["action"] != "allow"


def test_an_unknown_policy_is_the_requests_own_422(batched_client):
    client, detector = batched_client
    response = client.post("/v1/moderate", json={"text": "hello", "policy": "no-such-policy"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_policy"
    assert detector.batches == []  # refused before it reached a batch


def test_metrics_count_requests_verdicts_errors_and_batches(batched_client):
    client, _ = batched_client
    client.post("/v1/moderate", json={"text": "you idiot"})
    client.post("/v1/moderate", json={"text": "hello there"})
    client.post("/v1/moderate", json={"text": ""})
    client.post("/v1/moderate", content=b"text", headers={"content-type": "text/plain"})
    client.get("/no-such-route")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert 'safety_verdicts_total{action="allow"} 1.0' in body
    assert 'safety_category_actions_total{action="block",category="insult"} 1.0' in body
    assert 'safety_errors_total{type="empty_input"} 1.0' in body
    assert 'safety_http_request_duration_seconds_count{endpoint="/v1/moderate",method="POST",status="200"} 2.0' in body
    assert 'safety_http_request_duration_seconds_count{endpoint="/v1/moderate",method="POST",status="400"} 1.0' in body
    assert 'safety_http_request_duration_seconds_count{endpoint="/v1/moderate",method="POST",status="415"} 1.0' in body
    assert 'safety_http_request_duration_seconds_count{endpoint="unmatched",method="GET",status="404"} 1.0' in body
    assert "safety_batch_size_count 2.0" in body and "safety_queue_depth 0.0" in body
    assert 'safety_channel_duration_seconds_count{channel="text"} 2.0' in body
    assert "idiot" not in body and "hello" not in body  # never content in labels
