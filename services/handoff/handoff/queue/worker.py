"""Draining the fallback queue: leads nobody could take go to a rep as soon as one can.

A lead waits in the fallback queue when no rep fitted at the time (nobody covering it, all out
of office, off hours or at capacity). Reps come back: a rep is added or changed, a lead is
rejected, converted or lapses (capacity frees up), an absence or a night ends. So the worker
routes queued leads again, oldest first: at once when this replica changed a rep or an
assignment (a wake-up), and every `queue_drain_interval_s` for what time alone changes.

Each lead is tried in its own transaction under the lead's lock (the same lock erasure and a
new qualification take, always before any row lock), so a lead is never handed off twice.
The queued assignment closes as `reassigned` and a new `lead.handed_off` names the rep; reps who
already let this lead's deadline lapse are not asked again.
"""

import asyncio
import dataclasses
import logging
from datetime import datetime
from typing import Any
from uuid import UUID

from handoff.assignments import repository
from handoff.assignments.domain import AssignmentStatus
from handoff.config import HandoffSettings
from handoff.routing import assign
from handoff.webhooks.worker import wake_webhooks
from leadloop.app import Runtime, settings_of
from leadloop.events.models import event_time_now
from leadloop.worker import run_worker

log = logging.getLogger(__name__)
WAKEUP = "handoff.fallback-queue"


def wake_queue(runtime: Runtime) -> None:
    """Ask the drain worker to look at the queue now (capacity or availability changed)."""
    runtime.wakeup(WAKEUP).set()


async def drain(runtime: Runtime) -> bool:
    """One round: try every queued lead once. Never "did work": leads left queued wait for a
    change (a wake-up) or the next interval."""
    if await drain_fallback_queue(runtime.unit_of_work, settings_of(runtime, HandoffSettings)):
        wake_webhooks(runtime)  # their lead.handed_off webhooks go out at once
    return False


async def run_queue_drain(runtime: Runtime) -> None:
    """Background worker: route queued leads to reps who can take them, until shutdown."""
    await run_worker(runtime, "fallback-queue", drain, wake_on=WAKEUP,
                     interval_s=settings_of(runtime, HandoffSettings).queue_drain_interval_s)


async def drain_fallback_queue(new_uow: Any, settings: HandoffSettings) -> int:
    """Try every queued lead once (up to `queue_drain_batch` of them, oldest first); returns
    how many were handed to a rep."""
    async with new_uow() as uow:
        queued = await repository.queued_assignments(uow.connection, settings.queue_drain_batch)
    placed = 0
    for assignment_id, lead_id in queued:
        try:
            async with new_uow() as uow:
                if await _place(uow, assignment_id, lead_id, event_time_now(), settings):
                    await uow.commit()
                    placed += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # one lead failing must not keep the rest of the queue waiting
            log.exception("could not route queued assignment %s; trying the next", assignment_id)
    return placed


async def _place(uow: Any, assignment_id: UUID, lead_id: UUID, now: datetime,
                 settings: HandoffSettings) -> bool:
    """Hand one queued lead to a rep if one can take it now; False leaves it queued."""
    conn = uow.connection
    await repository.lock_lead(conn, lead_id)
    queued = await repository.lock_assignment(conn, assignment_id)
    if queued is None or queued.status != AssignmentStatus.queued.value:
        return False  # taken, erased or handled by another replica meanwhile
    lead = await repository.qualified_lead(conn, lead_id)
    if lead is None:
        return False
    lapsed = frozenset(await repository.breached_reps(conn, lead_id))
    choice = await assign.choose(uow, assign.facts_of(lead), now, settings, lapsed)
    if choice.rep is None:
        return False
    waited = int((now - queued.handed_off_at).total_seconds())
    await repository.update_assignment(conn, assignment_id,
                                       {"status": AssignmentStatus.reassigned.value})
    moved = dataclasses.replace(
        choice, reason=f"from the fallback queue after {waited} s: {choice.reason}")
    return await assign.hand_off(uow, lead, moved, now, breaches=queued.breaches) is not None
