"""Speed to lead on real PostgreSQL: lead.created (capture's topic) and lead.qualified (scoring's)
are not ordered, so handoff may route a lead before it hears of its creation. Either way the
created → handed off time is observed exactly once, and from the right moments."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.handlers import on_lead_created, on_lead_qualified
from handoff.routing import metrics
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent, event_type_of
from leadloop.events.models import EventData, LeadCreated, LeadProfile, LeadQualified
from leadloop.handlers import Batch, Item
from leadloop_devstack.stack import Stack
from tests.integration.conftest import migrated_engine

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]


@pytest_asyncio.fixture
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A fresh handoff database at the newest migration."""
    async with migrated_engine(stack, "handoff", "handoff_speed") as engine:
        yield engine


def _observed() -> tuple[float, float]:
    """(count, sum) of the created → handed off histogram in this process."""
    samples = {s.name: s.value for s in metrics.CREATED_TO_HANDED_OFF.collect()[0].samples}
    return (samples["leadloop_handoff_created_to_handed_off_seconds_count"],
            samples["leadloop_handoff_created_to_handed_off_seconds_sum"])


async def _handle(engine: AsyncEngine, event: EventData) -> None:
    """Handle one event as the consumer runner does: one unit of work, committed."""
    envelope = CloudEvent(type=event_type_of(event), source="test",
                          subject=str(event.lead_id), data={})  # type: ignore[attr-defined]
    handler = on_lead_created if isinstance(event, LeadCreated) else on_lead_qualified
    async with UnitOfWork(engine, "handoff") as uow:
        await handler(uow, Batch([Item(event, envelope)]))
        await uow.commit()


def _events(created_at: datetime) -> tuple[LeadCreated, LeadQualified]:
    lead_id = uuid.uuid4()
    profile = LeadProfile(email=f"jane.{lead_id.hex[:8]}@acme.example", company="Acme")
    return (LeadCreated(lead_id=lead_id, profile=profile, created_at=created_at),
            LeadQualified(lead_id=lead_id, score=70, grade="A", model_version=1,
                          profile=profile, qualified_at=datetime.now(UTC)))


@pytest.mark.parametrize("qualified_first", [False, True], ids=["in order", "qualified first"])
async def test_created_to_handed_off_is_observed_once_whichever_event_comes_first(
        engine: AsyncEngine, qualified_first: bool) -> None:
    created, qualified = _events(datetime.now(UTC) - timedelta(hours=1))
    count, total = _observed()
    for event in (qualified, created) if qualified_first else (created, qualified):
        await _handle(engine, event)
    # lead.created delivered twice (at-least-once) changes nothing.
    await _handle(engine, created)

    new_count, new_total = _observed()
    assert new_count == count + 1
    # Created an hour before the hand-off: the observation is the hour, not ~0.
    assert 3600 <= new_total - total < 3600 + 300
