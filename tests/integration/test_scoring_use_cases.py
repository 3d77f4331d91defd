"""Scoring's use cases against real PostgreSQL: re-scoring every lead after an activation
(batched, resumable after an interrupted batch, one lead.scored per lead); merges and unmerges
moving activities between leads."""

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.db import UnitOfWork, create_engine
from leadloop.events.models import (
    Consent,
    LeadActivity,
    LeadMerged,
    LeadProfile,
    LeadUnmerged,
)
from leadloop.infra_tables import outbox
from leadloop_devstack.postgres import ensure_databases
from leadloop_devstack.services import run_migrations
from leadloop_devstack.stack import Stack
from scoring import model_repository, model_service, service
from scoring.default_model import DEFAULT_MODEL_CONFIG
from scoring.rules import FieldEquals, FitRule
from scoring.tables import leads

pytestmark = pytest.mark.asyncio

PLAN_MODEL = DEFAULT_MODEL_CONFIG.model_copy(update={"fit_rules": (
    *DEFAULT_MODEL_CONFIG.fit_rules,
    FitRule(id="fit.plan_enterprise", points=10,
            when=FieldEquals(field="properties.plan", value="enterprise")))})


@pytest_asyncio.fixture
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A fresh, migrated scoring database."""
    name = f"scoring_it_{uuid.uuid4().hex[:8]}"
    await ensure_databases(stack.settings.server_url(), [name])
    url = stack.settings.database_url_for(name)
    await run_migrations("scoring", {"LEADLOOP_SCORING_DATABASE_URL": url})
    engine = create_engine(url, pool_size=2)
    yield engine
    await engine.dispose()


async def _scored_events(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(outbox.c.subject)
                                  .where(outbox.c.event_type == "leadloop.lead.scored.v1"))
        return Counter(row.subject for row in rows)


async def test_rescore_job_resumes_after_an_interrupted_batch_and_scores_each_lead_once(
        engine: AsyncEngine) -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    for n, lead_id in enumerate(ids):
        async with UnitOfWork(engine, "scoring") as uow:
            profile = LeadProfile(email=f"p{n}@gmail.com", properties={"plan": "Enterprise"})
            await service.record_profile(uow, lead_id, profile, Consent(), datetime.now(UTC),
                                         f"created-{n}")
            await uow.commit()
    before = await _scored_events(engine)

    async with UnitOfWork(engine, "scoring") as uow:
        version = await model_service.create_model(uow, "plan", PLAN_MODEL)
        job_id = await model_service.activate_model(uow, version)
        await uow.commit()

    async with UnitOfWork(engine, "scoring") as uow:
        assert await model_service.rescore_batch(uow, batch_size=2) is True
        await uow.commit()
    async with UnitOfWork(engine, "scoring") as uow:  # the process dies mid-batch: no commit
        await model_service.rescore_batch(uow, batch_size=2)
    async with engine.connect() as conn:
        job = (await model_repository.jobs_of(conn, version))[0]
    assert (job.id, job.status, job.done, job.total) == (job_id, "running", 2, 5)

    more = True
    while more:
        async with UnitOfWork(engine, "scoring") as uow:
            more = await model_service.rescore_batch(uow, batch_size=2)
            await uow.commit()

    async with engine.connect() as conn:
        job = (await model_repository.jobs_of(conn, version))[0]
        rows = (await conn.execute(select(leads.c.model_version, leads.c.score))).all()
    assert (job.status, job.done, job.total) == ("done", 5, 5)
    assert job.finished_at is not None
    assert sorted(rows) == [(version, 10)] * 5
    after = await _scored_events(engine)
    assert after - before == Counter({str(lead_id): 1 for lead_id in ids})


async def _engagement(engine: AsyncEngine, lead_id: uuid.UUID) -> int | None:
    async with engine.connect() as conn:
        score: int | None = await conn.scalar(select(leads.c.engagement_score)
                                              .where(leads.c.lead_id == lead_id))
        return score


async def test_merge_moves_the_duplicates_activities_and_unmerge_gives_them_back(
        engine: AsyncEngine) -> None:
    survivor, duplicate = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    profiles = {survivor: LeadProfile(email="jo@acme.com"),
                duplicate: LeadProfile(email="jo.private@gmail.com")}
    async with UnitOfWork(engine, "scoring") as uow:
        for lead_id, profile in profiles.items():
            await service.record_profile(uow, lead_id, profile, Consent(), now, f"c-{lead_id}")
        await service.record_activity(uow, LeadActivity(
            lead_id=duplicate, activity_id=uuid.uuid4(), kind="form_submitted", occurred_at=now,
        ), "form-1")
        await uow.commit()
    assert (await _engagement(engine, survivor), await _engagement(engine, duplicate)) == (0, 10)

    async with UnitOfWork(engine, "scoring") as uow:
        await service.record_merge(uow, LeadMerged(
            lead_id=survivor, merged_lead_id=duplicate, merge_id=uuid.uuid4(),
            profile=profiles[survivor], merged_at=now), "merge-1")
        # A late activity sent for the duplicate counts for the survivor too.
        await service.record_activity(uow, LeadActivity(
            lead_id=duplicate, activity_id=uuid.uuid4(), kind="email_clicked", occurred_at=now,
        ), "click-1")
        await uow.commit()
    assert await _engagement(engine, survivor) == 15

    async with UnitOfWork(engine, "scoring") as uow:
        await service.record_unmerge(uow, LeadUnmerged(
            lead_id=survivor, restored_lead_id=duplicate, merge_id=uuid.uuid4(),
            profile=profiles[survivor], restored_profile=profiles[duplicate], unmerged_at=now,
        ), "unmerge-1")
        await uow.commit()
    assert (await _engagement(engine, survivor), await _engagement(engine, duplicate)) == (0, 15)
