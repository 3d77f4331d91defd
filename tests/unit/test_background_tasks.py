"""Background tasks (relay, consumer, key feed, workers) are restarted when they die."""

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY

from leadloop.app import Runtime
from leadloop.settings import ServiceSettings

pytestmark = pytest.mark.asyncio


def _restarts(task: str) -> float:
    return REGISTRY.get_sample_value("leadloop_background_task_restarts_total",
                                     {"service": "supervised", "task": task}) or 0.0


async def test_a_task_that_dies_is_restarted_counted_and_reported() -> None:
    runtime = Runtime(settings=ServiceSettings(service_name="supervised"),
                      engine=Any, producer=Any)  # type: ignore[arg-type]
    starts = 0
    running = asyncio.Event()

    async def flaky() -> None:
        nonlocal starts
        starts += 1
        if starts <= 2:
            raise RuntimeError("a record it could not survive")
        running.set()
        await runtime.stopping.wait()

    before = _restarts("flaky")
    runtime.supervise("flaky", flaky)
    await asyncio.wait_for(running.wait(), timeout=10)

    assert starts == 3
    assert _restarts("flaky") - before == 2
    assert runtime.failing_tasks() == ["flaky"]  # readiness (strict) fails for a while
    runtime.stopping.set()
    await asyncio.wait_for(asyncio.gather(*runtime.tasks), timeout=5)


async def test_a_task_that_returns_is_not_restarted() -> None:
    runtime = Runtime(settings=ServiceSettings(service_name="supervised"),
                      engine=Any, producer=Any)  # type: ignore[arg-type]
    starts = 0

    async def finishes() -> None:
        nonlocal starts
        starts += 1

    runtime.supervise("finishes", finishes)
    await asyncio.wait_for(asyncio.gather(*runtime.tasks), timeout=5)
    assert starts == 1
    assert runtime.failing_tasks() == []
