"""Speed to lead on real PostgreSQL: lead.qualified carries when capture created the lead, so
handoff measures created → handed off when it routes the lead, once, without waiting for
lead.created (another topic, which may lag). Leads that arrived before qualifications carried it
are measured from the arrival handoff recorded for them then."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.handlers import HANDLERS
from handoff.routing import metrics
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent, event_type_of
from leadloop.events.models import LeadProfile, LeadQualified
from leadloop.handlers import Item
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


async def _handle(engine: AsyncEngine, event: LeadQualified) -> None:
    """Handle one event as the consumer runner does: one unit of work, committed."""
    envelope = CloudEvent(type=event_type_of(event), source="test",
                          subject=str(event.lead_id), data={})
    async with UnitOfWork(engine, "handoff") as uow:
        await HANDLERS.apply(uow, [Item(event, envelope)])
        await uow.commit()


def _qualified(created_at: datetime | None) -> LeadQualified:
    lead_id = uuid.uuid4()
    profile = LeadProfile(email=f"jane.{lead_id.hex[:8]}@acme.example", company="Acme")
    return LeadQualified(lead_id=lead_id, score=70, grade="A", model_version=1,
                         profile=profile, qualified_at=datetime.now(UTC),
                         lead_created_at=created_at)


async def test_created_to_handed_off_is_observed_once_from_the_creation_it_carries(
        engine: AsyncEngine) -> None:
    qualified = _qualified(datetime.now(UTC) - timedelta(hours=1))
    count, total = _observed()
    await _handle(engine, qualified)
    # Delivered again (at-least-once), or qualified again while assigned: nothing more.
    await _handle(engine, qualified)
    await _handle(engine, qualified.model_copy(update={"score": 90}))

    new_count, new_total = _observed()
    assert new_count == count + 1
    # Created an hour before the hand-off: the observation is the hour, not ~0.
    assert 3600 <= new_total - total < 3600 + 300


async def test_a_lead_that_arrived_before_the_upgrade_is_measured_from_its_recorded_arrival(
        engine: AsyncEngine) -> None:
    recorded, unknown = _qualified(None), _qualified(None)
    async with engine.begin() as conn:  # what handoff recorded from lead.created before
        await conn.execute(text("INSERT INTO lead_arrivals (lead_id, created_at) VALUES (:l, :c)"),
                           {"l": recorded.lead_id, "c": datetime.now(UTC) - timedelta(hours=2)})
    count, total = _observed()
    await _handle(engine, recorded)
    await _handle(engine, unknown)  # no creation known at all: routed, not measured

    new_count, new_total = _observed()
    assert new_count == count + 1
    assert 7200 <= new_total - total < 7200 + 300
