"""Handoff's batch handlers under the real consumer runner: a batch holding a poison
lead.qualified (a NUL in the email: PostgreSQL cannot store it) parks that event in the DLQ and
stores for every other lead what applying its events one at a time stores."""

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.handlers import HANDLERS
from leadloop.db import UnitOfWork, create_engine
from leadloop.events import EventData
from leadloop.events.models import LeadProfile, LeadQualified
from leadloop.kafka import close_producer, create_producer
from leadloop_devstack.stack import Stack
from tests.integration.conftest import Sandbox, migrated_database
from tests.integration.test_handoff_batch_routing import (
    NOW,
    OWNED,
    _item,
    _qualified,
    _setup,
)
from tests.support import eventually, read_records, send_event

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]


@pytest_asyncio.fixture
async def handoff_dbs(stack: Stack) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two fresh handoff databases with the same reps, rule and webhook subscriber."""
    engines = []
    for tag in ("handoff_runner", "handoff_alone"):
        engine = create_engine(await migrated_database(stack, "handoff", tag), pool_size=3)
        await _setup(engine)
        engines.append(engine)
    yield engines[0], engines[1]
    for engine in engines:
        await engine.dispose()


async def _summary(engine: AsyncEngine) -> dict[str, Any]:
    """What routing stored, in terms that do not depend on the order leads were routed in."""
    async with engine.connect() as conn:
        async def rows(sql: str) -> list[tuple[Any, ...]]:
            return sorted((tuple(r) for r in await conn.execute(text(sql))), key=repr)
        return {
            "assignments": await rows("SELECT lead_id, team, status, routing_rule, rule_version"
                                      " FROM assignments"),
            "per_rep": Counter(r[0] for r in await rows(
                "SELECT r.email FROM assignments a JOIN reps r ON r.id = a.rep_id")),
            "leads": await rows("SELECT lead_id, score FROM leads"),
            "timers": len(await rows("SELECT id FROM sla_timers")),
            "deliveries": await rows("SELECT lead_id, event_type FROM webhook_deliveries"),
            "events": await rows("SELECT subject, event_type FROM outbox"),
            "credits": sorted(sum(credits.values()) for _pool, credits in await rows(
                "SELECT pool, credits FROM round_robin_cursors")),
        }


async def _send(producer: AIOKafkaProducer, topic: str, event: EventData) -> str:
    return await send_event(producer, topic, event, event.lead_id)  # type: ignore[attr-defined]


async def test_a_poison_event_is_parked_and_the_rest_of_its_batch_applies_as_one_by_one(
        sandbox: Sandbox, handoff_dbs: tuple[AsyncEngine, AsyncEngine]) -> None:
    through_runner, alone = handoff_dbs
    leads = [uuid.uuid4() for _ in range(6)]
    good: list[EventData] = [
        _qualified(leads[0], 0, created=True), _qualified(leads[1], 1),
        _qualified(leads[2], 2), _qualified(leads[2], 2, score=95),
        _qualified(leads[3], 3, domain=OWNED), _qualified(leads[4], 4),
    ]
    poison = LeadQualified(lead_id=leads[5], score=80, grade="A", model_version=1,
                           profile=LeadProfile(email="nul\x00@lead.example"), qualified_at=NOW)

    producer = create_producer(sandbox.bootstrap_servers, "test")
    await producer.start()
    try:
        for event in good[:4]:
            await _send(producer, sandbox.topic, event)
        poison_id = await _send(producer, sandbox.topic, poison)
        for event in good[4:]:
            await _send(producer, sandbox.topic, event)

        async with sandbox.consuming(producer, HANDLERS, through_runner):
            [parked] = await read_records(sandbox.bootstrap_servers,
                                          sandbox.dead_letter_topic, 1, timeout_s=60)

            async def all_routed() -> None:
                routed = (await _summary(through_runner))["assignments"]
                assert {row[0] for row in routed} == set(leads[:5])
            await eventually(all_routed, timeout_s=60)
    finally:
        await close_producer(producer)

    assert dict(parked.headers)["ce_id"].decode() == poison_id
    for event in good:
        async with UnitOfWork(alone, "handoff") as uow:
            await HANDLERS.apply(uow, [_item(event)])
            await uow.commit()
    assert await _summary(through_runner) == await _summary(alone)
