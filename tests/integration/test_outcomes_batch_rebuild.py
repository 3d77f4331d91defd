"""Outcomes' rebuild on real Kafka and PostgreSQL: it fills fresh tables beside the live ones
while reports keep answering from the live ones (the old numbers), swaps them in (the new
numbers), and loses nothing the live consumer applies meanwhile. Erasures in the history leave
anonymous rows in the rebuilt tables, as live."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent, EventData, event_type_of
from leadloop.events.models import LeadErased
from leadloop.handlers import Item
from leadloop.kafka import close_producer, create_producer
from leadloop_devstack.stack import Stack
from outcomes.funnel import service
from outcomes.handlers import HANDLERS
from outcomes.rebuild.service import rebuild_read_model
from outcomes.rebuild.staging import RETIRED_SCHEMA, STAGING_SCHEMA
from outcomes.reports import repository as report_queries
from tests.integration.conftest import Sandbox, migrated_engine
from tests.support.outcomes_stories import (
    MONTH_START,
    Story,
    generate_stories,
    story_events,
    story_facts,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]

STORIES = generate_stories(1_300, seed=51)
HISTORY, LATE = STORIES[:1_200], STORIES[1_200:]  # LATE: produced while the rebuild runs
LIVE_AT_START = 300  # the live tables hold only these leads: the rebuild's numbers differ
ERASED = {s.lead_id for s in HISTORY[::100]}  # erased after their stories


@pytest_asyncio.fixture
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(stack, "outcomes", "outcomes_rebuild_it", pool_size=4) as engine:
        yield engine


def _envelopes(events: Sequence[EventData]) -> list[CloudEvent]:
    return [CloudEvent(type=event_type_of(e), source="test", subject=str(e.lead_id),  # type: ignore[attr-defined]
                       data=e.model_dump(mode="json")) for e in events]


async def _produce(producer: AIOKafkaProducer, topic: str, stories: Sequence[Story],
                   erased: Collection[uuid.UUID] = ()) -> None:
    events = [e for s in stories for e in story_events(s)]
    events += [LeadErased(lead_id=s.lead_id, erased_at=MONTH_START + timedelta(days=45))
               for s in stories if s.lead_id in erased]
    sent = []
    for envelope in _envelopes(events):
        key, value, headers = envelope.to_kafka()
        sent.append(await producer.send(topic, value=value, key=key, headers=headers))
    await asyncio.gather(*sent)


async def _apply_live(engine: AsyncEngine, stories: Sequence[Story]) -> None:
    """What the live consumer does with these stories' events: apply them to the live tables."""
    events = [e for s in stories for e in story_events(s)]
    async with UnitOfWork(engine, "outcomes") as uow:
        await HANDLERS.apply(uow, [Item(e, envelope) for e, envelope
                                   in zip(events, _envelopes(events), strict=True)])
        await uow.commit()


async def _lead_count(engine: AsyncEngine) -> int:
    async with UnitOfWork(engine, "outcomes") as uow:
        report = await service.funnel(uow, None, None)
    return report.stages[0].count


@dataclass
class Reading:
    """One report request: how many leads it counted, how long it took, and whether the
    rebuild had finished when it was sent."""

    leads: int
    seconds: float
    after_rebuild: bool


async def test_reports_answer_with_the_old_numbers_during_a_rebuild_and_the_new_after(
        stack: Stack, sandbox: Sandbox, engine: AsyncEngine) -> None:
    producer = create_producer(stack.bootstrap_servers, "test-rebuild")
    await producer.start()
    try:
        await _produce(producer, sandbox.topic, HISTORY, ERASED)
        await _apply_live(engine, HISTORY[:LIVE_AT_START])
        assert await _lead_count(engine) == LIVE_AT_START

        rebuild = asyncio.create_task(rebuild_read_model(
            engine, stack.bootstrap_servers, topics=[sandbox.topic]))
        readings: list[Reading] = []

        async def read_reports() -> None:
            while True:
                done = rebuild.done()
                started = time.perf_counter()
                leads = await _lead_count(engine)
                readings.append(Reading(leads, time.perf_counter() - started, done))
                if done:
                    return
                await asyncio.sleep(0.02)

        async def consume_live() -> None:
            """New leads arrive while the rebuild runs: each is on Kafka before the live
            consumer applies it, as in production."""
            for n, story in enumerate(LATE):
                await _produce(producer, sandbox.topic, [story])
                await _apply_live(engine, [story])
                if n % 10 == 0:
                    await asyncio.sleep(0.05)

        reader = asyncio.create_task(read_reports())
        await consume_live()
        result = await rebuild
        await reader
    finally:
        await close_producer(producer)

    # Reports kept answering during the rebuild (how fast is bench/outcomes_rebuild.py's to
    # measure, not a test's); they counted only the live tables' leads (never a half-built
    # table), and those after it every lead.
    during = [r for r in readings if not r.after_rebuild]
    print(f"{len(during)} reports during the rebuild, the slowest "
          f"{max(r.seconds for r in readings):.3f} s; {result}")
    assert len(during) >= 3 and all(r.leads <= LIVE_AT_START + len(LATE) or r.leads >= len(HISTORY)
                          for r in during), sorted({r.leads for r in during})
    assert during[0].leads <= LIVE_AT_START + len(LATE)  # the old numbers
    assert readings[-1].after_rebuild and readings[-1].leads >= len(HISTORY)  # the new ones
    assert await _lead_count(engine) == len(STORIES)
    assert result.events >= sum(len(story_events(s)) for s in HISTORY)
    assert len(HISTORY) <= result.leads <= len(STORIES)  # the late leads applied by then

    # Row by row, the rebuilt read model holds every lead's story, the late ones included; an
    # erased lead's numbers are in an anonymous row, and its id is nowhere but its tombstone.
    async with engine.connect() as conn:
        facts = await report_queries.lead_facts(conn, None, None)
        left = await conn.scalar(text(
            "SELECT count(*) FROM touches WHERE lead_id = ANY(:ids)"), {"ids": list(ERASED)})
        indexes = set((await conn.scalars(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'funnel_leads' "
            "AND schemaname = current_schema()"))).all())
        schemas = set((await conn.scalars(text(
            "SELECT nspname FROM pg_namespace WHERE nspname IN (:a, :b)"),
            {"a": STAGING_SCHEMA, "b": RETIRED_SCHEMA})).all())
    by_id = {f.lead_id: f for f in facts}
    assert len(facts) == len(STORIES) and not ERASED & by_id.keys() and left == 0
    assert [by_id.get(s.lead_id) for s in STORIES if s.lead_id not in ERASED] == \
        [story_facts(s) for s in STORIES if s.lead_id not in ERASED]
    # The live tables' indexes under their migration names; nothing left behind.
    assert indexes == {"funnel_leads_pkey", "funnel_leads_by_lead_at",
                       "funnel_leads_by_rejected_at", "funnel_leads_merged"}
    assert schemas == set()
