"""Prometheus metrics, served at ``GET /metrics`` (text exposition format).

Each app has its own registry (nothing global, so tests and embedded apps never collide):

* ``safety_http_request_duration_seconds{endpoint, method, status}``: histogram per route;
* ``safety_channel_duration_seconds{channel}``: each channel's model time per moderated batch;
* ``safety_batch_size``, ``safety_batch_wait_seconds``: the micro-batcher's batches;
* ``safety_queue_depth``: items waiting for a batch (sampled at scrape time);
* ``safety_errors_total{type}``: error responses by error code (``corrupt_image``, ``overloaded``...);
* ``safety_verdicts_total{action}`` and ``safety_category_actions_total{category, action}``:
  verdicts, and every category's action that was not ``allow``;
* ``safety_channel_failures_total{channel, status}``: channels that failed closed;
* ``safety_cache_hits_total`` / ``safety_cache_misses_total``.

No label ever holds content, a hash of it or a client-chosen string (policies are not labels).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from safety.schema import ModerationResult
from safety.taxonomy import Action

_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_seconds = Histogram("safety_http_request_duration_seconds", "HTTP request latency by route.",
                                         ("endpoint", "method", "status"), buckets=_LATENCY_BUCKETS, registry=r)
        self.channel_seconds = Histogram("safety_channel_duration_seconds",
                                         "Model time of each channel per moderated batch.", ("channel",),
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("safety_batch_size", "Items per micro-batch.", buckets=_BATCH_BUCKETS, registry=r)
        self.batch_wait = Histogram("safety_batch_wait_seconds", "How long a batch's first item waited.",
                                    buckets=_LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("safety_queue_depth", "Items waiting for a micro-batch.", registry=r)
        self.errors = Counter("safety_errors_total", "Error responses by error code.", ("type",), registry=r)
        self.verdicts = Counter("safety_verdicts_total", "Verdicts by action.", ("action",), registry=r)
        self.category_actions = Counter("safety_category_actions_total",
                                        "Categories whose action was review or block.", ("category", "action"),
                                        registry=r)
        self.channel_failures = Counter("safety_channel_failures_total", "Channels that failed closed.",
                                        ("channel", "status"), registry=r)
        self.cache_hits = Counter("safety_cache_hits_total", "Results served from the result cache.", registry=r)
        self.cache_misses = Counter("safety_cache_misses_total", "Results computed by the models.", registry=r)
        for action in Action:
            self.verdicts.labels(action.value)

    def observe_batch(self, size: int, waited_s: float) -> None:
        self.batch_size.observe(size)
        self.batch_wait.observe(waited_s)

    def observe_results(self, results: list[ModerationResult]) -> None:
        seen_batches: set[tuple[str, float]] = set()
        for result in results:
            self.verdicts.labels(result.action.value).inc()
            (self.cache_hits if result.cached else self.cache_misses).inc()
            for category, outcome in result.categories.items():
                if outcome.action is not Action.ALLOW:
                    self.category_actions.labels(category.value, outcome.action.value).inc()
            if result.cached:
                continue
            for channel, outcome in result.channels.items():
                if outcome.status.failed:
                    self.channel_failures.labels(channel.value, outcome.status.value).inc()
                # items of one batch share the channel's latency: count it once per batch
                if outcome.latency_ms is not None and (channel.value, outcome.latency_ms) not in seen_batches:
                    seen_batches.add((channel.value, outcome.latency_ms))
                    self.channel_seconds.labels(channel.value).observe(outcome.latency_ms / 1000.0)

    def render(self, queue_depth: Callable[[], int] | None = None) -> bytes:
        if queue_depth is not None:
            self.queue_depth.set(queue_depth())
        return generate_latest(self.registry)
