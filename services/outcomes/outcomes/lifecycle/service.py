"""Lifecycle use cases: move leads along their lifecycle from events; an admin's reset."""

from collections.abc import Sequence
from uuid import UUID

from leadloop.db import UnitOfWork
from leadloop.events.models import Actor, EventData, event_time_now
from leadloop.handlers import Item
from leadloop.lifecycle import LifecycleStage
from outcomes.exceptions import LeadNotFound
from outcomes.lifecycle import domain as lifecycle
from outcomes.lifecycle import repository as lifecycle_repository


async def apply_lifecycle(uow: UnitOfWork, items: Sequence[Item[EventData]]) -> None:
    """Move the batch's leads along their lifecycle and announce each change: three
    statements whatever the batch's size, none when no event in it moves a stage (page
    views, scores)."""
    moving = [item for item in items if lifecycle.cause_of(item.event, None) is not None]
    if not moving:
        return
    driver = await uow.driver()
    stored = await lifecycle_repository.lock_stages(
        driver, sorted({item.event.lead_id for item in moving}))  # type: ignore[attr-defined]
    plan = lifecycle.plan_stages(moving, stored)
    await lifecycle_repository.save_stages(driver, plan.rows.values())
    for change in plan.changes:
        uow.publish(change)


async def reset_stage(uow: UnitOfWork, lead_id: UUID, stage: LifecycleStage, reason: str,
                      by: Actor) -> lifecycle.LeadLifecycle:
    """An admin sets a lead's stage (any direction); announced as lead.stage_changed."""
    current = await lifecycle_repository.lock_stage(uow.connection, lead_id)
    if current is None or current.erased:
        raise LeadNotFound
    after, change = lifecycle.reset(current, stage, reason, by, event_time_now())
    await lifecycle_repository.save_stage(uow.connection, after)
    uow.publish(change)
    return after
