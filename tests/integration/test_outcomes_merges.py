"""Merged leads in outcomes' reports, on real PostgreSQL: a merged duplicate counts once, as part
of its survivor, with both histories; undoing the merge counts both again exactly as if it had
never happened; any order of delivery and a replay give the same numbers; erasure keeps the
person counted once."""

import random
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.db import UnitOfWork
from leadloop.events import EventData
from leadloop.events.models import (
    DealClosed,
    DealOpened,
    LeadCreated,
    LeadErased,
    LeadMerged,
    LeadProfile,
    LeadQualified,
    LeadSource,
    LeadUnmerged,
)
from leadloop.handlers import Item
from leadloop_devstack.stack import Stack
from outcomes.funnel import repository
from outcomes.funnel.counted import counted_leads
from outcomes.funnel.merges import fold_group
from outcomes.handlers import HANDLERS
from outcomes.reports import repository as report_queries
from outcomes.reports import service
from outcomes.reports.attribution import AttributeBy, Model
from outcomes.reports.domain import FACT_FIELDS, GroupBy, Period
from outcomes.tables import funnel_leads
from tests.integration.conftest import migrated_engine
from tests.integration.test_outcomes_read_model import _all_reports, _envelopes
from tests.support.outcomes_stories import MONTH_START, generate_stories, story_events

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SURVIVOR, DUPLICATE = uuid.UUID(int=101), uuid.UUID(int=202)
LINKEDIN = LeadSource(channel="form", utm_source="linkedin", utm_campaign="q4-launch")
GOOGLE = LeadSource(channel="form", utm_source="google", utm_campaign="brand")


@pytest_asyncio.fixture
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A fresh outcomes database, migrated with the service's own Alembic migrations."""
    async with migrated_engine(stack, "outcomes", "outcomes_merges_it") as engine:
        yield engine


async def _apply(engine: AsyncEngine, events: Sequence[EventData], batch: int = 7) -> None:
    """Apply events through outcomes' handlers, `batch` at a time, as the runner batches."""
    items = [Item(event, envelope) for event, envelope in _envelopes(events)]
    for start in range(0, len(items), batch):
        async with UnitOfWork(engine, "outcomes") as uow:
            await HANDLERS.apply(uow, items[start:start + batch])
            await uow.commit()


async def _replay(engine: AsyncEngine, events: Sequence[EventData], seed: int) -> None:
    """Drop the read model and apply `events` in a shuffled order."""
    async with UnitOfWork(engine, "outcomes") as uow:
        await repository.clear_read_model(uow.connection)
        await uow.commit()
    await _apply(engine, random.Random(seed).sample(list(events), len(events)))


def _profile(n: int) -> LeadProfile:
    return LeadProfile(email=f"ann{n}@example.com", country="DE")


def _two_leads() -> list[EventData]:
    """Ann signed up from LinkedIn, then again from Google a day later; sales won a deal on the
    second lead."""
    deal, at = uuid.uuid5(DUPLICATE, "deal"), T0 + timedelta(days=1)
    return [
        LeadCreated(lead_id=SURVIVOR, profile=_profile(1), source=LINKEDIN, created_at=T0),
        LeadCreated(lead_id=DUPLICATE, profile=_profile(2), source=GOOGLE, created_at=at),
        LeadQualified(lead_id=DUPLICATE, score=80, grade="A", model_version=1,
                      profile=_profile(2), source=GOOGLE, qualified_at=at + timedelta(hours=1)),
        DealOpened(lead_id=DUPLICATE, deal_id=deal, external_id="crm-1", amount_minor=500_000,
                   currency="EUR", opened_at=at + timedelta(days=1)),
        DealClosed(lead_id=DUPLICATE, deal_id=deal, external_id="crm-1", outcome="won",
                   amount_minor=500_000, currency="EUR", closed_at=at + timedelta(days=2)),
    ]


MERGE = LeadMerged(lead_id=SURVIVOR, merged_lead_id=DUPLICATE, merge_id=uuid.uuid4(),
                   profile=_profile(1), merged_at=T0 + timedelta(days=5))
UNMERGE = LeadUnmerged(lead_id=SURVIVOR, restored_lead_id=DUPLICATE, merge_id=MERGE.merge_id,
                       profile=_profile(1), restored_profile=_profile(2),
                       unmerged_at=T0 + timedelta(days=6))


async def _seen(engine: AsyncEngine) -> dict[str, Any]:
    """What a marketer reads: the funnel, the funnel by source, the won revenue per lead, and
    first- and last-touch attribution by campaign."""
    async with UnitOfWork(engine, "outcomes") as uow:
        [funnel] = await service.funnel_breakdown(uow, None, None, None, Period.week)
        by_source = await service.funnel_breakdown(uow, None, None, GroupBy.source, Period.week)
        attribution = {}
        for model in (Model.first_touch, Model.last_touch):
            report, _currency, _ = await service.attribution(uow, None, None, model,
                                                             AttributeBy.campaign, None)
            attribution[model.value] = {r.key: r.revenue_minor for r in report.rows}
        won = await report_queries.won_revenue(uow.connection, None, None)
        facts = await report_queries.lead_facts(uow.connection, None, None)
    return {"counts": funnel.counts,
            "by_source": {g.key: (g.counts["lead"], g.counts["won"]) for g in by_source},
            "attribution": attribution,
            "won": {lead: (r.won_deals, r.revenue_minor) for lead, r in won.items()},
            "leads": {f.lead_id: f.lead_at for f in facts}}


async def test_a_merged_duplicate_counts_once_with_its_deal_and_unmerging_counts_both_again(
        engine: AsyncEngine) -> None:
    for seed in range(3):  # the merge before, between and after the leads' events
        await _replay(engine, [*_two_leads(), MERGE], seed)
        merged = await _seen(engine)
        assert merged["counts"] == {"lead": 1, "mql": 1, "handed_off": 0, "accepted": 0,
                                    "opportunity": 1, "won": 1, "lost": 0}, seed
        # One lead: Ann as she first came (the survivor's source, created on her first visit),
        # with the deal won on the duplicate.
        assert merged["leads"] == {SURVIVOR: T0}
        assert merged["by_source"] == {"linkedin": (1, 1)}
        assert merged["won"] == {SURVIVOR: (1, {"EUR": 500_000})}
        # Both leads' touches are hers: LinkedIn first, Google last.
        assert merged["attribution"] == {"first_touch": {"q4-launch": 500_000},
                                         "last_touch": {"brand": 500_000}}
        # A redelivery changes nothing.
        await _apply(engine, [MERGE, *_two_leads()[-2:]])
        assert await _seen(engine) == merged

    await _replay(engine, _two_leads(), 0)
    never_merged = await _all_reports(engine)
    for seed in range(4):  # the unmerge may even come before the merge it undoes
        await _replay(engine, [*_two_leads(), MERGE, UNMERGE], seed)
        unmerged = await _seen(engine)
        assert unmerged["counts"]["lead"] == 2 and unmerged["counts"]["won"] == 1
        assert unmerged["by_source"] == {"linkedin": (1, 0), "google": (1, 1)}
        assert unmerged["won"] == {DUPLICATE: (1, {"EUR": 500_000})}
        assert unmerged["attribution"]["first_touch"] == {"brand": 500_000}
        assert await _all_reports(engine) == never_merged, "exactly as if never merged"


async def test_merges_among_many_leads_fold_by_the_pure_rules_in_any_order(
        engine: AsyncEngine) -> None:
    stories = generate_stories(120, seed=31)
    events = [e for story in stories for e in story_events(story)]
    leads = [s.lead_id for s in stories]
    at = MONTH_START + timedelta(days=45)
    # Ten pairs, and a chain: the survivor of the first pair merged on into a third lead.
    pairs = [(leads[n], leads[n + 1]) for n in range(0, 40, 4)] + [(leads[99], leads[0])]
    # The survivor's profile as it was (what capture announces when the duplicate filled in
    # nothing), so undoing the merge must give back exactly the reports of no merge at all.
    profiles = {s.lead_id: LeadProfile(
        email=f"lead{s.lead_id.int}@example.com", country=s.country, region=s.region,
        company_size=s.company_size, industry=s.industry, properties=s.properties)
        for s in stories}
    merges = [LeadMerged(lead_id=s, merged_lead_id=d, merge_id=uuid.uuid4(), profile=profiles[s],
                         merged_at=at + timedelta(minutes=n))
              for n, (s, d) in enumerate(pairs)]

    await _replay(engine, events, seed=1)
    alone = await _all_reports(engine)
    await _replay(engine, [*events, *merges], seed=2)
    merged = await _all_reports(engine)
    await _replay(engine, [*events, *merges], seed=3)
    assert await _all_reports(engine) == merged, "the same in another order"

    counted = len(stories) - len(pairs)
    assert merged["funnel"][0].counts["lead"] == counted
    assert len(merged["facts"]) == counted
    assert {leads[99], *(s for s, _ in pairs[1:-1])} <= {f.lead_id for f in merged["facts"]}
    assert not {d for _, d in pairs} & {f.lead_id for f in merged["facts"]}
    # Stage counts can only shrink by the merged-away leads; won revenue is all kept.
    for stage, n in alone["funnel"][0].counts.items():
        assert n - len(pairs) <= merged["funnel"][0].counts[stage] <= n, stage
    for model in Model:
        assert merged[f"attribution_{model.value}_campaign"][0].total_revenue_minor == \
            alone[f"attribution_{model.value}_campaign"][0].total_revenue_minor

    # Each survivor's row is what the pure rules fold from its group's own rows.
    async with engine.connect() as conn:
        rows = {r.lead_id: dict(r._mapping) for r in await conn.execute(select(funnel_leads))}
        folded = {r.lead_id: dict(r._mapping) for r in await conn.execute(
            select(counted_leads).where(counted_leads.c.lead_id.in_([s for s, _ in pairs])))}
    groups = {leads[99]: [leads[99], leads[0], leads[1]],
              **{s: [s, d] for s, d in pairs[1:-1]}}
    for survivor, group in groups.items():
        want = fold_group(survivor, [rows[lead] for lead in group])
        assert {k: folded[survivor][k] for k in FACT_FIELDS if k != "lead_id"} == \
            {k: want.get(k) for k in FACT_FIELDS if k != "lead_id"}, survivor

    unmerges = [LeadUnmerged(lead_id=m.lead_id, restored_lead_id=m.merged_lead_id,
                             merge_id=m.merge_id, profile=m.profile, restored_profile=m.profile,
                             unmerged_at=at + timedelta(days=1)) for m in merges]
    await _replay(engine, [*events, *merges, *unmerges], seed=4)
    assert await _all_reports(engine) == alone, "exactly as if never merged"


async def test_erasing_a_merged_person_keeps_them_counted_once(engine: AsyncEngine) -> None:
    await _replay(engine, [*_two_leads(), MERGE], seed=0)
    before = await _seen(engine)
    # Capture erases the person: both leads, in any order; the first erases the group.
    for lead in (DUPLICATE, SURVIVOR):
        await _apply(engine, [LeadErased(lead_id=lead, erased_at=T0 + timedelta(days=9))])
        erased = await _seen(engine)
        assert erased["counts"] == before["counts"]
        assert erased["attribution"] == before["attribution"]
        assert list(erased["won"].values()) == [(1, {"EUR": 500_000})]
        assert not {SURVIVOR, DUPLICATE} & (set(erased["leads"]) | set(erased["won"]))
    # A merge undone after the erasure cannot bring anyone back, nor count them twice.
    await _apply(engine, [UNMERGE, MERGE])
    assert (await _seen(engine))["counts"] == before["counts"]
    async with engine.connect() as conn:
        tombstones = (await conn.execute(select(funnel_leads).where(
            funnel_leads.c.lead_id.in_([SURVIVOR, DUPLICATE])))).all()
    assert len(tombstones) == 2 and all(r.erased and r.lead_at is None and r.merged_into is None
                                        for r in tombstones)
