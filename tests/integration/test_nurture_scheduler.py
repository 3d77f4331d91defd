"""Nurture's step scheduler against real PostgreSQL and the real SMTP sink: two replicas
claiming the same due steps send each step exactly once, in order, and nothing is skipped."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlalchemy import func, insert, select

from leadloop.app import Runtime
from leadloop.db import create_engine
from leadloop.kafka import create_producer
from leadloop_devstack.postgres import ensure_databases
from leadloop_devstack.services import run_migrations
from leadloop_devstack.stack import Stack
from nurture import repository
from nurture.config import NurtureSettings
from nurture.domain import EntryRule, Sequence
from nurture.scheduler import Scheduler
from nurture.steps import GuardPolicy
from nurture.tables import enrollments, lead_states, messages
from tests.support import eventually

pytestmark = pytest.mark.asyncio

LEADS = 60


@pytest_asyncio.fixture
async def nurture_settings(stack: Stack) -> AsyncIterator[NurtureSettings]:
    """A fresh nurture database, migrated, and settings that mail through the stack's sink."""
    name = f"nurture_it{uuid.uuid4().hex[:8]}"
    await ensure_databases(stack.settings.server_url(), [name])
    url = stack.settings.database_url_for(name)
    await run_migrations("nurture", {"LEADLOOP_NURTURE_DATABASE_URL": url})
    yield NurtureSettings(database_url=url, smtp_host=stack.settings.host,
                          smtp_port=stack.smtp.port, smtp_connections=2,
                          scheduler_batch_size=7, scheduler_poll_interval_s=0.05,
                          kafka_bootstrap_servers=stack.bootstrap_servers)


def _replica(settings: NurtureSettings) -> Scheduler:
    # The scheduler needs the database only; the producer is never started.
    runtime = Runtime(settings=settings, engine=create_engine(settings.database_url, 3),
                      producer=create_producer(settings.kafka_bootstrap_servers, "nurture-it"))
    return Scheduler(runtime, settings)


async def test_two_replicas_send_every_step_exactly_once(
        stack: Stack, nurture_settings: NurtureSettings) -> None:
    tag = uuid.uuid4().hex[:8]
    seeder = create_engine(nurture_settings.database_url, 2)
    sequence = Sequence(
        key=f"it-{tag}", version=1, entry_rule=EntryRule.new_unqualified_lead,
        segment={"utm_campaign": ["nobody"]},
        guards=GuardPolicy(max_per_day=10, max_per_week=10, quiet_hours=None),
        steps=[{"kind": "send_email", "template": "welcome"},  # type: ignore[list-item]
               {"kind": "wait", "seconds": 1},
               {"kind": "send_email", "template": "case-study"}])
    now = datetime.now(UTC)
    lead_ids = [uuid.uuid4() for _ in range(LEADS)]
    addresses = {f"it.{tag}.{n}@replicas.example" for n in range(LEADS)}
    async with seeder.begin() as conn:
        await repository.add_sequence_version(conn, sequence)
        await conn.execute(insert(lead_states), [
            {"lead_id": i, "created_at": now, "email": f"it.{tag}.{n}@replicas.example",
             "first_name": "Rep", "email_consent": True, "attributes": {}, "profile_at": now}
            for n, i in enumerate(lead_ids)])
        await conn.execute(insert(enrollments), [
            {"id": uuid.uuid4(), "lead_id": i, "sequence_key": sequence.key,
             "sequence_version": 1, "status": "active", "current_step": 0,
             "next_step_due_at": now, "enrolled_at": now, "step_started_at": now}
            for i in lead_ids])

    replicas = [_replica(nurture_settings), _replica(nurture_settings)]
    tasks = [asyncio.create_task(r.run()) for r in replicas]
    try:
        async def all_completed() -> None:
            async with seeder.connect() as conn:
                done = (await conn.execute(
                    select(func.count()).where(enrollments.c.sequence_key == sequence.key,
                                               enrollments.c.status == "completed"))).scalar()
            assert done == LEADS
        await eventually(all_completed, timeout_s=60)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for replica in replicas:
            await replica.runtime.engine.dispose()

    received = [m for m in stack.received_mail() if m["To"] in addresses]
    per_step = Counter((str(m["To"]), str(m["X-LeadLoop-Sequence"])) for m in received)
    assert len(per_step) == 2 * LEADS and set(per_step.values()) == {1}, per_step.most_common(3)
    async with seeder.connect() as conn:
        rows = (await conn.execute(select(messages.c.step, func.count())
                                   .group_by(messages.c.step))).all()
    assert dict(rows) == {0: LEADS, 2: LEADS}
    await seeder.dispose()
