"""Scoring's use cases against real PostgreSQL: re-scoring every lead after an activation
(batched, resumable after an interrupted batch, one lead.scored per lead); merges and unmerges
moving activities between leads; scheduled training; decay of a qualified lead; activities'
seconds on page."""

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import pytest_asyncio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.db import UnitOfWork, create_engine
from leadloop.events.models import (
    Consent,
    DealClosed,
    LeadActivity,
    LeadConsentChanged,
    LeadMerged,
    LeadProfile,
    LeadUnmerged,
)
from leadloop.infra_tables import outbox
from leadloop_devstack.stack import Stack
from scoring.leads import service
from scoring.learning import service as learning_service
from scoring.learning.features import LearningConfig
from scoring.models import repository as model_repository
from scoring.models import service as model_service
from scoring.models.in_force import forget_models
from scoring.models.templates import DEFAULT_MODEL_CONFIG
from scoring.rules.model_config import FieldEquals, FitRule
from scoring.scores import repository
from scoring.tables import lead_activities, leads
from tests.integration.conftest import migrated_database

pytestmark = pytest.mark.asyncio

PLAN_MODEL = DEFAULT_MODEL_CONFIG.model_copy(update={"fit_rules": (
    *DEFAULT_MODEL_CONFIG.fit_rules,
    FitRule(id="fit.plan_enterprise", points=10,
            when=FieldEquals(field="properties.plan", value="enterprise")))})


@pytest_asyncio.fixture
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A fresh, migrated scoring database."""
    url = await migrated_database(stack, "scoring", "scoring_it")
    engine = create_engine(url, pool_size=2)
    # Scoring keeps parsed versions and trainings per process, by number: right for one
    # database, wrong across these tests' fresh ones, where version 2 differs each time.
    forget_models()
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

    await _run_rescore_jobs(engine, batch_size=2)

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


async def _outbox(engine: AsyncEngine, lead_id: uuid.UUID, event_type: str) -> list[dict[str, Any]]:
    """The data of every event of a type waiting in (or sent from) the outbox for a lead."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(outbox.c.data).where(
            outbox.c.event_type == event_type, outbox.c.subject == str(lead_id))
            .order_by(outbox.c.id))
        return [orjson.loads(row.data) for row in rows]


async def _lead_row(engine: AsyncEngine, lead_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(leads).where(leads.c.lead_id == lead_id))).one()


async def _run_rescore_jobs(engine: AsyncEngine, batch_size: int = 50) -> None:
    """Run re-scoring batches, one committed unit of work each, until none is left."""
    more = True
    while more:
        async with UnitOfWork(engine, "scoring") as uow:
            more = await model_service.rescore_batch(uow, batch_size=batch_size)
            await uow.commit()


SEGMENT_LEARNS = DEFAULT_MODEL_CONFIG.model_copy(update={"learning": LearningConfig.model_validate(
    {"features": [{"kind": "categorical", "field": "properties.segment"}],
     "min_outcomes": 20, "holdout_share": 0.3, "shadow": True})})


async def _close_deals(engine: AsyncEngine, count: int, start: int) -> list[uuid.UUID]:
    """`count` scored leads with a closed deal each: enterprise ones won, smb ones lost."""
    now = datetime.now(UTC)
    lead_ids = []
    for n in range(start, start + count):
        lead_id = uuid.uuid4()
        segment = "enterprise" if n % 2 else "smb"
        async with UnitOfWork(engine, "scoring") as uow:
            await service.record_profile(uow, lead_id, LeadProfile(
                email=f"d{n}@gmail.com", properties={"segment": segment}), Consent(), now,
                f"created-{lead_id}")
            await service.record_deal_outcome(uow, DealClosed(
                lead_id=lead_id, deal_id=uuid.uuid4(), external_id=f"crm-{n}",
                outcome="won" if segment == "enterprise" else "lost", amount_minor=1000,
                currency="EUR", closed_at=now), f"deal-{lead_id}")
            await uow.commit()
        lead_ids.append(lead_id)
    return lead_ids


async def _vp_sales_form(uow: UnitOfWork, lead_id: uuid.UUID, now: datetime,
                         **form_properties: Any) -> None:
    """A VP of sales at a 120-person company (fit 40, grade B) sends a form (10 points)."""
    await service.record_profile(uow, lead_id, LeadProfile(
        email="pat@gmail.com", job_title="VP Sales", company_size=120), Consent(), now,
        "created-1")
    await service.record_activity(uow, LeadActivity(
        lead_id=lead_id, activity_id=uuid.uuid4(), kind="form_submitted", occurred_at=now,
        properties=form_properties), "form-1")


async def _retrain_if_due(engine: AsyncEngine) -> int | None:
    async with UnitOfWork(engine, "scoring") as uow:
        training_id = await learning_service.retrain_if_due(uow)
        await uow.commit()
    return training_id


async def test_scheduled_training_waits_for_enough_deals_then_trains_once_per_new_deals(
        engine: AsyncEngine) -> None:
    async with UnitOfWork(engine, "scoring") as uow:
        version = await model_service.create_model(uow, "learns", SEGMENT_LEARNS)
        await model_service.activate_model(uow, version)
        await uow.commit()
    await _run_rescore_jobs(engine)

    first = await _close_deals(engine, 10, start=0)
    assert await _retrain_if_due(engine) is None  # 10 deals; the version needs 20
    async with engine.connect() as conn:
        assert await model_repository.latest_training(conn, version) is None

    leads_with_deals = first + await _close_deals(engine, 30, start=10)
    training_id = await _retrain_if_due(engine)
    assert training_id is not None
    async with engine.connect() as conn:
        training = await model_repository.latest_training(conn, version)
        job = (await model_repository.jobs_of(conn, version, limit=1))[0]
    assert (training.id, training.deals) == (training_id, 40)
    assert {"auc_learned", "auc_rules_only"} <= training.evaluation.keys()
    # Training the active version re-scores every lead with the new probability.
    assert (job.reason, job.status, job.total) == ("training", "running", 40)

    assert await _retrain_if_due(engine) is None  # no deal closed since

    await _run_rescore_jobs(engine)
    won = await _lead_row(engine, leads_with_deals[1])
    lost = await _lead_row(engine, leads_with_deals[0])
    assert won.win_probability > 0.5 > lost.win_probability
    scored = await _outbox(engine, won.lead_id, "leadloop.lead.scored.v1")
    assert scored[-1]["win_probability"] == won.win_probability
    assert scored[0]["win_probability"] is None  # scored before any training


async def test_decay_job_lowers_a_stale_qualified_lead_without_a_second_qualification(
        engine: AsyncEngine) -> None:
    lead_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with UnitOfWork(engine, "scoring") as uow:
        # Fit 40, grade B: the form's 10 points make it an MQL.
        await _vp_sales_form(uow, lead_id, now)
        await uow.commit()
    assert (await _lead_row(engine, lead_id)).score == 50
    assert len(await _outbox(engine, lead_id, "leadloop.lead.qualified.v1")) == 1

    await _run_rescore_jobs(engine)  # the worker finishes what is running (the seeded model's)
    # 45 days pass (1.5 half-lives) without news of the lead: its form is now that old.
    async with engine.begin() as conn:
        await conn.execute(update(lead_activities).where(lead_activities.c.lead_id == lead_id)
                           .values(occurred_at=lead_activities.c.occurred_at
                                   - timedelta(days=45)))
    async with UnitOfWork(engine, "scoring") as uow:
        assert await model_service.start_decay_job(uow, interval_s=3600) is not None
        await uow.commit()
    await _run_rescore_jobs(engine)

    lead = await _lead_row(engine, lead_id)
    assert (lead.score, lead.is_mql) == (44, False)  # the form's 10 points are worth 4 now
    # Qualified stays qualified until sales acts: handoff already has it.
    assert lead.qualification == "qualified"
    scored = await _outbox(engine, lead_id, "leadloop.lead.scored.v1")
    assert (scored[-1]["score"], scored[-1]["is_mql"]) == (44, False)
    assert len(await _outbox(engine, lead_id, "leadloop.lead.qualified.v1")) == 1

    # New engagement lifts it over the line again: still one qualification.
    async with UnitOfWork(engine, "scoring") as uow:
        await service.record_activity(uow, LeadActivity(
            lead_id=lead_id, activity_id=uuid.uuid4(), kind="form_submitted",
            occurred_at=datetime.now(UTC)), "form-2")
        await uow.commit()
    assert (await _lead_row(engine, lead_id)).is_mql
    assert len(await _outbox(engine, lead_id, "leadloop.lead.qualified.v1")) == 1


async def test_an_activity_that_happened_long_ago_does_not_qualify_a_lead(
        engine: AsyncEngine) -> None:
    stale, fresh = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    async with UnitOfWork(engine, "scoring") as uow:
        for lead_id, days_ago in ((stale, 200), (fresh, 0)):
            await service.record_profile(uow, lead_id, LeadProfile(
                email=f"{lead_id.hex[:8]}@gmail.com", job_title="VP Sales", company_size=120),
                Consent(), now, f"created-{lead_id}")
            # Delivered now (a late import, a replay), but it happened `days_ago`.
            await service.record_activity(uow, LeadActivity(
                lead_id=lead_id, activity_id=uuid.uuid4(), kind="form_submitted",
                occurred_at=now - timedelta(days=days_ago)), f"form-{lead_id}")
        await uow.commit()
    assert ((await _lead_row(engine, stale)).score, (await _lead_row(engine, stale)).is_mql) \
        == (40, False)
    assert await _outbox(engine, stale, "leadloop.lead.qualified.v1") == []
    assert len(await _outbox(engine, fresh, "leadloop.lead.qualified.v1")) == 1


async def test_activity_keeps_its_seconds_on_page_and_an_email_open_scores_its_rule(
        engine: AsyncEngine) -> None:
    lead_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with UnitOfWork(engine, "scoring") as uow:
        await service.record_profile(uow, lead_id, LeadProfile(email="jo@gmail.com"), Consent(),
                                     now, "created-1")
        await service.record_activity(uow, LeadActivity(
            lead_id=lead_id, activity_id=uuid.uuid4(), kind="page_view", occurred_at=now,
            url="https://acme.com/docs", properties={"seconds_on_page": 42.5}), "view-1")
        await service.record_activity(uow, LeadActivity(
            lead_id=lead_id, activity_id=uuid.uuid4(), kind="email_opened", occurred_at=now,
        ), "open-1")
        await uow.commit()
    async with engine.connect() as conn:
        stored = dict((await conn.execute(
            select(lead_activities.c.kind, lead_activities.c.seconds)
            .where(lead_activities.c.lead_id == lead_id))).all())
    assert stored == {"page_view": 42.5, "email_opened": None}
    lead = await _lead_row(engine, lead_id)
    assert {(c["rule_id"], c["points"], c["event_id"]) for c in lead.contributions} == {
        ("engagement.page_view", 2, "view-1"), ("engagement.email_opened", 1, "open-1"),
        ("intensity.recent_visit", 5, "view-1")}  # the default's visit in the last 7 days
    assert lead.engagement_score == 8


async def test_backtest_replays_the_stored_leads_and_stores_or_sends_nothing(
        engine: AsyncEngine) -> None:
    lead_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with UnitOfWork(engine, "scoring") as uow:
        await _vp_sales_form(uow, lead_id, now, seconds_on_page=30)
        version = await model_service.create_model(uow, "stricter", DEFAULT_MODEL_CONFIG.model_copy(
            update={"mql": DEFAULT_MODEL_CONFIG.mql.model_copy(update={"min_score": 60})}))
        await uow.commit()

    async def stored() -> tuple[Any, ...]:
        async with engine.connect() as conn:
            outbox_rows = (await conn.execute(select(outbox.c.id, outbox.c.event_type)
                                              .order_by(outbox.c.id))).all()
            lead = (await conn.execute(select(leads).where(leads.c.lead_id == lead_id))).one()
            jobs = await model_repository.jobs_of(conn, version)
        return outbox_rows, tuple(lead), jobs
    before = await stored()

    async with UnitOfWork(engine, "scoring") as uow:
        current = await learning_service.backtest_version(uow, 1)
        stricter = await learning_service.backtest_version(uow, version)
    assert (current["leads_replayed"], current["mqls"]) == (1, 1)
    assert (stricter["leads_replayed"], stricter["mqls"]) == (1, 0)
    assert await stored() == before


async def test_withdrawn_sales_contact_consent_disqualifies_under_the_seeded_default(
        engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        models = await repository.list_models(conn)
        jobs = await model_repository.jobs_of(conn, 3)
    assert [(m.version, m.is_active) for m in models] == [(1, False), (2, False), (3, True)]
    assert [(j.reason, j.total) for j in jobs] == [("activation", 0)]  # nothing to re-score

    lead_id = uuid.uuid4()
    now = datetime.now(UTC)
    top = LeadProfile(email="jane@acme-corp.com", job_title="VP Marketing", company_size=200)
    async with UnitOfWork(engine, "scoring") as uow:
        await service.record_profile(uow, lead_id, top, Consent(sales_contact=True), now,
                                     "created-1")
        await uow.commit()
    assert len(await _outbox(engine, lead_id, "leadloop.lead.qualified.v1")) == 1

    async with UnitOfWork(engine, "scoring") as uow:
        await service.record_consent_change(uow, LeadConsentChanged(
            lead_id=lead_id, purpose="sales_contact", granted=False, changed_at=now),
            "consent-1")
        await uow.commit()
    disqualified = await _outbox(engine, lead_id, "leadloop.lead.disqualified.v1")
    assert [(d["rule_id"], d["model_version"]) for d in disqualified] == [
        ("disqualify.do_not_contact", 3)]
    lead = await _lead_row(engine, lead_id)
    assert (lead.consent_withdrawn, lead.is_mql, lead.score) == (["sales_contact"], False, 55)
