"""Group commit: the writes of concurrent requests share one transaction.

A request validates its input without touching the database, then hands the prepared write to
its kind's `GroupCommit` and awaits its own answer. One task per process takes everything
waiting (up to `max_items`), applies it with set-based statements in one unit of work, commits
once (one outbox insert) and resolves each request's future. No timer: a batch is whatever
arrived while the previous one was being written, so a lone request is written at once and
under load requests wait for at most the batch ahead of them.

Each request keeps its own answer: `apply` returns a result or an exception per item (a 4xx
for that request alone). If the shared transaction fails, each item is applied again on its
own, so one bad row never fails another request. Two items with the same `conflict_key`
(e.g. the same Idempotency-Key) are never written at the same time: the later one waits for
the next batch, as it would wait for the first one's transaction.

Up to `in_flight` batches are written at once (two by default): while one waits for
PostgreSQL, the next is already being written, so the rate is not bound by one round trip.
"""

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client import Histogram

from leadloop.db import UnitOfWork
from leadloop.tracing import continuing

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

ApplyBatch = Callable[[UnitOfWork, list[T]], Awaitable[list[R | Exception]]]

BATCH_SIZE = Histogram("capture_group_commit_items", "Requests written per transaction",
                       ["kind"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))


@dataclass
class _Waiting(Generic[T, R]):
    item: T
    future: "asyncio.Future[R]"


class GroupCommit(Generic[T, R]):
    """Coalesces concurrent writes of one kind into shared transactions."""

    def __init__(self, kind: str, unit_of_work: Callable[[], UnitOfWork],
                 apply: ApplyBatch[T, R], *, max_items: int = 500, in_flight: int = 2,
                 conflict_key: Callable[[T], Hashable | None] = lambda _: None) -> None:
        self._kind = kind
        self._unit_of_work = unit_of_work
        self._apply = apply
        self._max_items = max_items
        self._conflict_key = conflict_key
        self._in_flight = in_flight
        self._waiting: list[_Waiting[T, R]] = []
        self._drainers: set[asyncio.Task[None]] = set()
        self._writing: set[Hashable] = set()  # conflict keys of the batches being written

    async def submit(self, item: T) -> R:
        """Write `item` with whatever else is waiting; its own result, or its own exception."""
        return await self._enqueue([item])[0]

    async def submit_many(self, items: list[T]) -> list[R | Exception]:
        """Write several items (one request's array); each its own result or exception."""
        if not items:
            return []
        futures = self._enqueue(items)
        await asyncio.wait(futures)
        return [f.exception() or f.result() for f in futures]  # type: ignore[misc]

    def _enqueue(self, items: list[T]) -> "list[asyncio.Future[R]]":
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = []
        for item in items:
            future: asyncio.Future[R] = loop.create_future()
            self._waiting.append(_Waiting(item, future))
            futures.append(future)
        if len(self._drainers) < self._in_flight:
            # A fresh context: the drainer must not carry the first request's trace or log
            # context into the others' work (each item brings its own).
            self._drainers.add(loop.create_task(self._drain(), context=contextvars.Context()))
        return futures

    async def _drain(self) -> None:
        batch: list[_Waiting[T, R]] = []
        try:
            while self._waiting:
                batch = self._take()
                if not batch:  # all waiting conflict with a batch being written
                    return
                keys = {self._conflict_key(w.item) for w in batch} - {None}
                self._writing |= keys
                try:
                    await self._run(batch)
                finally:
                    self._writing -= keys
        finally:
            # Now, not in a done callback: a request arriving before that would find no room
            # for a drainer and wait for nobody.
            self._drainers.discard(asyncio.current_task())  # type: ignore[arg-type]
            # Only if the loop itself broke (cancelled at shutdown): nobody waits forever.
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_exception(RuntimeError("group commit stopped"))
            if not self._drainers:
                for waiting in self._waiting:
                    if not waiting.future.done():
                        waiting.future.set_exception(RuntimeError("group commit stopped"))
                self._waiting = []

    def _take(self) -> list[_Waiting[T, R]]:
        """The next batch, in arrival order; items conflicting with it or with a batch being
        written, and those past `max_items`, stay queued."""
        batch: list[_Waiting[T, R]] = []
        rest: list[_Waiting[T, R]] = []
        seen: set[Hashable] = set(self._writing)
        for waiting in self._waiting:
            key = self._conflict_key(waiting.item)
            if len(batch) >= self._max_items or (key is not None and key in seen):
                rest.append(waiting)
                continue
            if key is not None:
                seen.add(key)
            batch.append(waiting)
        self._waiting = rest
        return batch

    async def _run(self, batch: list[_Waiting[T, R]]) -> None:
        BATCH_SIZE.labels(self._kind).observe(len(batch))
        try:
            # The batch's statements serve every request in it; with tracing on they show
            # once, in the trace of the first request.
            with continuing(getattr(batch[0].item, "traceparent", None)):
                async with self._unit_of_work() as uow:
                    results = await self._apply(uow, [w.item for w in batch])
                    await uow.commit()
        except Exception as exc:
            if len(batch) == 1:
                _resolve(batch[0].future, exc)
                return
            log.info("a %s batch of %d failed (%r); applying its items one by one",
                     self._kind, len(batch), exc)
            for waiting in batch:
                await self._run([waiting])
            return
        for waiting, result in zip(batch, results, strict=True):
            _resolve(waiting.future, result)


def _resolve(future: "asyncio.Future[R]", outcome: "R | Exception") -> None:
    if future.done():  # the request was cancelled (client gone); its write stands
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
