"""Micro-batching: concurrent requests share one model batch.

Requests put their validated items on a bounded queue and await a future. One worker task takes
the first waiting item, gathers more for at most ``max_wait_ms`` (or until ``max_size`` items),
and runs the whole batch through :meth:`Moderator.moderate_inputs` in a worker thread, so the event
loop keeps accepting requests while the models run. Items that arrive during a run wait for the
next batch: under load, batches grow by themselves; alone, a request waits at most
``max_wait_ms``. Each item keeps its own policy.

When ``max_queue`` items are already waiting, :meth:`submit` refuses at once with
:class:`~safety.errors.OverloadedError` (HTTP 503 with ``Retry-After``) instead of letting memory
grow without bound. A batch that raises fails every request in it with the same error (HTTP 500, never a hang) and
the worker goes on with the next batch; a detector failure inside the batch is not an exception
(the moderator fails those verdicts closed).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from safety.errors import OverloadedError
from safety.inputs import ModerationInput
from safety.pipeline import Moderator
from safety.schema import ModerationResult

log = logging.getLogger("safety.server")


@dataclass(slots=True)
class _Waiting:
    item: ModerationInput
    policy: str | None
    future: asyncio.Future
    queued_at: float


class MicroBatcher:
    def __init__(self, moderator: Moderator, *, max_size: int = 32, max_wait_ms: float = 0.0, max_queue: int = 256,
                 on_batch: Callable[[int, float], None] | None = None) -> None:
        self.moderator = moderator
        self.max_size = max_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        #: Called with (batch size, seconds the batch's first item waited) for the metrics.
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Waiting] | None = None
        self._worker: asyncio.Task | None = None
        self._seconds_per_item = 0.05  # running estimate for Retry-After

    @property
    def depth(self) -> int:
        """Items waiting for a batch (not counting the batch running now)."""
        return 0 if self._queue is None else self._queue.qsize()

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="safety-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        while self._queue is not None and not self._queue.empty():
            waiting = self._queue.get_nowait()
            if not waiting.future.done():
                waiting.future.set_exception(OverloadedError("the server is shutting down", retry_after_s=1))

    async def submit(self, items: Sequence[ModerationInput], policy: str | None) -> list[ModerationResult]:
        """Queue ``items`` (one request's) and wait for their results, in order."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if self._queue.qsize() + len(items) > self.max_queue:
            retry = max(1, math.ceil(self._queue.qsize() * self._seconds_per_item))
            raise OverloadedError(f"the moderation queue is full ({self._queue.qsize()} items waiting);"
                                  f" retry in {retry} s", retry_after_s=retry)
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        futures = []
        for item in items:
            future = loop.create_future()
            self._queue.put_nowait(_Waiting(item, policy, future, now))
            futures.append(future)
        return list(await asyncio.gather(*futures))

    async def _gather(self) -> list[_Waiting]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            batch = [w for w in batch if not w.future.done()]  # a client that went away
            if not batch:
                continue
            started = time.perf_counter()
            try:
                if self.on_batch is not None:
                    self.on_batch(len(batch), started - batch[0].queued_at)
                results = await run_in_threadpool(self.moderator.moderate_inputs, [w.item for w in batch],
                                                  policies=[w.policy for w in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request; the worker lives on
                log.error("a batch of %d failed: %s", len(batch), type(exc).__name__)
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            elapsed = time.perf_counter() - started
            self._seconds_per_item = 0.8 * self._seconds_per_item + 0.2 * elapsed / len(batch)
            for waiting, result in zip(batch, results, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(result)
