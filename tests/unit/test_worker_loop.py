"""The shared worker loop: work runs again at once, idles end on a wake-up or a shutdown, and a
failing round backs off (growing, with jitter, reset by success) and is logged and counted."""

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from leadloop import worker
from leadloop.app import Runtime
from leadloop.settings import ServiceSettings

pytestmark = pytest.mark.asyncio


def _runtime() -> Runtime:
    return Runtime(settings=ServiceSettings(service_name="looping"),
                   engine=Any, producer=Any)  # type: ignore[arg-type]


def _errors(name: str) -> float:
    return REGISTRY.get_sample_value("leadloop_worker_errors_total",
                                     {"service": "looping", "worker": name}) or 0.0


class _Script:
    """A tick that plays results in turn (an exception is raised) and stops the service after
    the last; and an idle that records how long it was asked to wait instead of waiting."""

    def __init__(self, runtime: Runtime, results: list[bool | int | Exception]) -> None:
        self.runtime = runtime
        self.results: Iterator[bool | int | Exception] = iter(results)
        self.count = len(results)
        self.events: list[str | float] = []

    async def tick(self, runtime: Runtime) -> bool | int:
        self.events.append("tick")
        result = next(self.results)
        self.count -= 1
        if self.count == 0:
            runtime.stopping.set()
        if isinstance(result, Exception):
            raise result
        return result

    async def idle(self, runtime: Runtime, timeout_s: float,
                   wake: asyncio.Event | None = None) -> None:
        self.events.append(timeout_s)


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(results: list[bool | int | Exception]) -> _Script:
        played = _Script(_runtime(), results)
        monkeypatch.setattr(worker, "idle", played.idle)
        return played
    return make


async def test_a_round_that_did_work_runs_again_at_once_and_an_empty_one_idles(
        script: Any) -> None:
    played = script([5, 3, 0, True, False])
    await worker.run_worker(played.runtime, "drain", played.tick, interval_s=7.0)
    assert played.events == ["tick", "tick", "tick", 7.0, "tick", "tick", 7.0]


async def test_a_schedule_waits_one_interval_before_its_first_round(script: Any) -> None:
    played = script([False])
    await worker.run_worker(played.runtime, "train", played.tick, interval_s=60.0,
                            wait_first=True)
    assert played.events == [60.0, "tick", 60.0]


async def test_failures_back_off_exponentially_with_jitter_and_success_resets(
        script: Any, caplog: pytest.LogCaptureFixture) -> None:
    before = _errors("flaky")
    played = script([RuntimeError("boom"), RuntimeError("boom"), RuntimeError("boom"), 0,
                     RuntimeError("boom"), 0])
    with caplog.at_level(logging.WARNING, logger="leadloop.worker"):
        await worker.run_worker(played.runtime, "flaky", played.tick, interval_s=9.0,
                                backoff_initial_s=1.0, backoff_max_s=3.0)
    waits = [e for e in played.events if e != "tick"]
    first, second, third, interval, after_reset = waits[:5]
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0  # doubling, jittered down to half
    assert 1.5 <= third <= 3.0  # capped at backoff_max_s
    assert interval == 9.0
    assert 0.5 <= after_reset <= 1.0  # the success in between started the backoff again
    assert _errors("flaky") - before == 4
    assert sum("worker flaky: round failed" in r.getMessage() for r in caplog.records) == 4


async def test_a_transient_failure_logs_a_warning_without_a_traceback(
        script: Any, caplog: pytest.LogCaptureFixture) -> None:
    played = script([ConnectionRefusedError("database away"), 0])
    with caplog.at_level(logging.WARNING, logger="leadloop.worker"):
        await worker.run_worker(played.runtime, "outage", played.tick, interval_s=1.0)
    failed = [r for r in caplog.records if "worker outage" in r.getMessage()]
    assert [(r.levelno, r.exc_info) for r in failed] == [(logging.WARNING, None)]


async def test_a_wake_up_ends_the_idle_at_once() -> None:
    runtime = _runtime()
    rounds = asyncio.Queue[int]()

    async def tick(_: Runtime) -> bool:
        rounds.put_nowait(1)
        return False

    loop = asyncio.create_task(worker.run_worker(runtime, "woken", tick, interval_s=3600.0,
                                                 wake_on="woken"))
    await asyncio.wait_for(rounds.get(), timeout=5)
    runtime.wakeup("woken").set()
    await asyncio.wait_for(rounds.get(), timeout=5)  # not an hour later
    runtime.stopping.set()
    await asyncio.wait_for(loop, timeout=5)


async def test_a_wake_up_during_a_round_runs_another_round() -> None:
    runtime = _runtime()
    rounds = 0
    second = asyncio.Event()

    async def tick(_: Runtime) -> bool:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            runtime.wakeup("busy").set()  # the change arrives while the round is under way
        else:
            second.set()
        return False

    loop = asyncio.create_task(worker.run_worker(runtime, "busy", tick, interval_s=3600.0,
                                                 wake_on="busy"))
    await asyncio.wait_for(second.wait(), timeout=5)
    runtime.stopping.set()
    await asyncio.wait_for(loop, timeout=5)


@pytest.mark.parametrize("failing", [False, True], ids=["idling", "backing-off"])
async def test_shutdown_ends_an_idle_or_a_backoff_at_once(failing: bool) -> None:
    runtime = _runtime()
    started = asyncio.Event()

    async def tick(_: Runtime) -> bool:
        started.set()
        if failing:
            raise RuntimeError("keeps failing")
        return False

    loop = asyncio.create_task(worker.run_worker(
        runtime, "sleepy", tick, interval_s=3600.0, backoff_initial_s=3600.0,
        backoff_max_s=3600.0))
    await asyncio.wait_for(started.wait(), timeout=5)
    runtime.stopping.set()
    await asyncio.wait_for(loop, timeout=1)  # not an hour later
