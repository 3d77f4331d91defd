"""The one loop every background worker runs in: idling, wake-ups, backoff and shutdown.

A worker is a `tick`: one round of its work (claim what is due, apply it, commit) that says
whether it did any (`True` or a count). The loop runs it again at once while it keeps finding
work, and otherwise idles until the next interval **or** a wake-up, whichever comes first:

- a wake-up is a named in-process event (`Runtime.wakeup(name).set()`), set by whatever changed
  the worker's input in this process (an upload, a rep who came back), so the worker starts now
  rather than at its next poll; the interval remains the safety net for other replicas' changes
  and for work that only time makes due;
- shutdown (`Runtime.stopping`) ends the idle at once: a stopping service never waits out a
  sleep or a backoff;
- a failing round is logged with the worker's name, counted in
  `leadloop_worker_errors_total{service,worker}`, and retried after an exponential backoff with
  jitter, reset by the next round that succeeds. A database or broker outage (transient) logs a
  warning; anything else logs its traceback.

A tick raises rather than half-applies: its transaction rolls back, and the next round sees the
same rows again.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from leadloop.app import Runtime
from leadloop.observability import WORKER_ERRORS
from leadloop.retry import Backoff, is_transient

log = logging.getLogger(__name__)

Tick = Callable[[Runtime], Awaitable[bool | int]]
"""One round of a worker's work; truthy when it did some (so more may be waiting)."""


async def run_worker(runtime: Runtime, name: str, tick: Tick, *, interval_s: float,
                     wake_on: str | None = None, wait_first: bool = False,
                     backoff_initial_s: float = 0.1, backoff_max_s: float = 30.0) -> None:
    """Run `tick` until the service stops: again at once after a round that did work, else
    after `interval_s` or as soon as the wake-up `wake_on` is set. `wait_first` idles one
    interval before the first round (a schedule, not a queue)."""
    WORKER_ERRORS.labels(runtime.settings.service_name, name)  # listed at 0 from the start
    wake = runtime.wakeup(wake_on) if wake_on is not None else None
    backoff = Backoff(backoff_initial_s, backoff_max_s)
    if wait_first:
        await idle(runtime, interval_s, wake)
    while not runtime.stopping.is_set():
        if wake is not None:
            wake.clear()  # a change from here on must wake the next idle, not this round's
        try:
            did_work = await tick(runtime)
        except Exception as exc:  # any failure of a round: back off and try again
            if runtime.stopping.is_set():
                return
            WORKER_ERRORS.labels(runtime.settings.service_name, name).inc()
            if is_transient(exc):
                log.warning("worker %s: round failed (%r); backing off", name, exc)
            else:
                log.exception("worker %s: round failed; backing off", name)
            await idle(runtime, backoff.next_delay())
            continue
        backoff.reset()
        if not did_work:
            await idle(runtime, interval_s, wake)


async def idle(runtime: Runtime, timeout_s: float, wake: asyncio.Event | None = None) -> None:
    """Return after `timeout_s`, when `wake` is set, or when the service stops."""
    if runtime.stopping.is_set() or (wake is not None and wake.is_set()):
        return
    waits = [asyncio.ensure_future(runtime.stopping.wait())]
    if wake is not None:
        waits.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
