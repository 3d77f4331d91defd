"""Scoring's batch handlers against real PostgreSQL: a batch mixing many leads, several events
of one lead, repeats and rare events (rejection, merge, consent, deal, erasure) leaves the same
stored state and publishes the same events as applying its events one at a time; the hot path
takes a fixed number of statements whatever the batch's size."""

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
import pytest_asyncio
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.db import UnitOfWork, create_engine
from leadloop.events import CloudEvent
from leadloop.events.models import (
    Consent,
    DealClosed,
    EventData,
    LeadActivity,
    LeadConsentChanged,
    LeadCreated,
    LeadErased,
    LeadMerged,
    LeadProfile,
    LeadRejected,
    LeadUnmerged,
    LeadUpdated,
    RejectionReason,
    event_type_of,
)
from leadloop.handlers import Item
from leadloop.infra_tables import outbox
from leadloop.kafka import close_producer, create_producer
from leadloop_devstack.stack import Stack
from scoring.handlers import HANDLERS
from scoring.leads.kept import KEPT
from scoring.leads.repository import RECENT_ACTIVITIES
from scoring.models.in_force import forget_models
from scoring.tables import deal_outcomes, lead_activities, leads, score_history
from tests.integration.conftest import Sandbox, migrated_database
from tests.support import eventually, read_records

pytestmark = pytest.mark.asyncio

# Fit 40, grade B: a form (10 points) makes it an MQL.
VP_SALES = LeadProfile(email="pat@gmail.com", job_title="VP Sales", company_size=120)
# Fit 55, grade A: an MQL at once.
VP_MARKETING = LeadProfile(email="jane@acme-corp.com", job_title="VP Marketing", company_size=200)
FREE_MAIL = LeadProfile(email="jo.private@gmail.com")
TIME_COLUMNS = {"scored_at", "qualified_at", "disqualified_at", "first_seen_at", "recorded_at"}
RANDOM_COLUMNS = {"activities_version"}  # a new random value with each change of activities


async def _database(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await migrated_database(stack, "scoring", "scoring_batch"),
                           pool_size=2)
    forget_models()  # the model in force is cached per process; this is another database
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def batched(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A fresh scoring database that takes the mixed batch at once."""
    async for engine in _database(stack):
        yield engine


@pytest_asyncio.fixture
async def one_by_one(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A fresh scoring database that takes the same events one at a time."""
    async for engine in _database(stack):
        yield engine


def _item(data: EventData) -> Item[EventData]:
    subject = str(data.lead_id)  # type: ignore[attr-defined]
    return Item(data, CloudEvent(type=event_type_of(data), source="test", subject=subject,
                                 data=data.model_dump(mode="json")))


async def _apply(engine: AsyncEngine, items: list[Item[EventData]]) -> None:
    async with UnitOfWork(engine, "scoring") as uow:
        await HANDLERS.apply(uow, items)
        await uow.commit()


def _activity(lead_id: uuid.UUID, kind: str, at: datetime,
              activity_id: uuid.UUID | None = None, **properties: Any) -> LeadActivity:
    return LeadActivity(lead_id=lead_id, activity_id=activity_id or uuid.uuid4(), kind=kind,
                        occurred_at=at, properties=properties)


def _created(lead_id: uuid.UUID, profile: LeadProfile, at: datetime) -> LeadCreated:
    return LeadCreated(lead_id=lead_id, profile=profile, consent=Consent(sales_contact=True),
                       created_at=at)


async def _state(engine: AsyncEngine) -> dict[str, Any]:
    """What scoring stores and publishes, without the moments it was done at."""
    async with engine.connect() as conn:
        lead_rows = {row.lead_id: {k: v for k, v in row._mapping.items()
                                   if k not in TIME_COLUMNS | RANDOM_COLUMNS}
                     for row in await conn.execute(select(leads))}
        activity_rows = {tuple(v for k, v in row._mapping.items() if k not in TIME_COLUMNS)
                         for row in await conn.execute(select(lead_activities))}
        history: dict[uuid.UUID, list[Any]] = defaultdict(list)
        for row in await conn.execute(select(score_history).order_by(score_history.c.id)):
            history[row.lead_id].append(tuple(v for k, v in row._mapping.items()
                                              if k not in TIME_COLUMNS | {"id"}))
        deals = {row.deal_id: {k: v for k, v in row._mapping.items() if k not in TIME_COLUMNS}
                 for row in await conn.execute(select(deal_outcomes))}
        published: dict[str, list[Any]] = defaultdict(list)
        for row in await conn.execute(select(outbox).order_by(outbox.c.id)):
            data = {k: v for k, v in orjson.loads(row.data).items() if k not in TIME_COLUMNS}
            published[row.subject].append((row.event_type, data))
    return {"leads": lead_rows, "activities": activity_rows, "history": dict(history),
            "deals": deals, "published": dict(published)}


async def test_a_mixed_batch_stores_and_publishes_what_one_event_at_a_time_does(
        batched: AsyncEngine, one_by_one: AsyncEngine) -> None:
    now = datetime.now(UTC)
    earlier = now - timedelta(hours=1)
    new, late, rejected, survivor, duplicate, erased = (uuid.uuid4() for _ in range(6))
    # Stored before the batch, the same way in both databases.
    before = [_item(_created(survivor, VP_SALES, earlier)),
              _item(_created(duplicate, FREE_MAIL, earlier)),
              _item(_activity(duplicate, "page_view", earlier)),
              _item(LeadMerged(lead_id=survivor, merged_lead_id=duplicate, merge_id=uuid.uuid4(),
                               profile=VP_SALES, merged_at=earlier)),
              _item(_created(rejected, VP_MARKETING, earlier)),
              _item(_created(erased, VP_SALES, earlier))]
    for engine in (batched, one_by_one):
        for item in before:
            await _apply(engine, [item])

    form = uuid.uuid4()
    batch = [_item(data) for data in (
        _created(new, VP_SALES, now),
        _activity(new, "form_submitted", now, activity_id=form, seconds_on_page=30),
        _activity(late, "page_view", now),  # before its lead.created
        _created(late, VP_MARKETING, now),
        _activity(new, "form_submitted", now, activity_id=form),  # the same activity again
        LeadRejected(lead_id=rejected, assignment_id=uuid.uuid4(), rep_id=uuid.uuid4(),
                     reason_code=RejectionReason.bad_timing, rejected_at=now),
        _activity(rejected, "form_submitted", now + timedelta(seconds=1)),  # recycles it
        _activity(duplicate, "email_clicked", now),  # counts for the survivor
        LeadConsentChanged(lead_id=late, purpose="sales_contact", granted=False,
                           changed_at=now),
        LeadUpdated(lead_id=new, profile=FREE_MAIL, updated_at=earlier),  # older: ignored
        DealClosed(lead_id=new, deal_id=uuid.uuid4(), external_id="crm-1", outcome="won",
                   amount_minor=1000, currency="EUR", closed_at=now),
        LeadErased(lead_id=erased, erased_at=now),
        _activity(erased, "form_submitted", now),  # after the erasure: ignored
        LeadUpdated(lead_id=late, profile=VP_MARKETING.model_copy(update={"company_size": 5000}),
                    updated_at=now),
        LeadUnmerged(lead_id=survivor, restored_lead_id=duplicate, merge_id=uuid.uuid4(),
                     profile=VP_SALES, restored_profile=FREE_MAIL, unmerged_at=now),
        _activity(new, "email_clicked", now),
        _activity(survivor, "form_submitted", now),
    )]

    await _apply(batched, batch)
    for item in batch:
        await _apply(one_by_one, [item])

    state = await _state(batched)
    assert state == await _state(one_by_one)
    # And it is what scoring is meant to do.
    kinds = {lead_id: [t.split(".")[2] for t, _ in events]
             for lead_id, events in state["published"].items()}
    assert kinds[str(new)] == ["scored", "scored", "qualified", "scored"]
    assert kinds[str(rejected)] == ["scored", "qualified", "scored", "qualified"]
    # Withdrawn sales consent disqualifies (do-not-contact); the bigger company changes nothing.
    assert kinds[str(late)] == ["scored", "qualified", "disqualified", "scored"]
    assert erased not in {row[1] for row in state["activities"]}  # (activity id, lead id, …)
    assert state["leads"][erased]["profile"] is None
    assert (state["leads"][new]["score"], state["leads"][new]["profile"]["email"]) == (
        55, VP_SALES.email)
    # The click sent for the duplicate while merged went back to it with the unmerge.
    # (its page view 2, the click 5, and 5 for a visit in the last 7 days)
    assert state["leads"][duplicate]["engagement_score"] == 12
    assert state["leads"][survivor]["engagement_score"] == 10


async def test_a_poison_event_is_dead_lettered_and_the_rest_of_its_batch_applied_as_alone(
        sandbox: Sandbox, batched: AsyncEngine, one_by_one: AsyncEngine) -> None:
    now = datetime.now(UTC)
    first, second, third, poisoned = (uuid.uuid4() for _ in range(4))
    items = [_item(data) for data in (
        _created(first, VP_SALES, now), _created(second, VP_MARKETING, now),
        _activity(first, "form_submitted", now), _activity(third, "page_view", now),
        # PostgreSQL's jsonb cannot hold a NUL character: this lead.created fails every time.
        _created(poisoned, FREE_MAIL.model_copy(update={"first_name": "Nul\x00"}), now),
        _activity(second, "email_clicked", now), _created(third, VP_SALES, now),
        _activity(first, "pricing_page", now), _activity(poisoned, "page_view", now),
    )]
    producer = create_producer(sandbox.bootstrap_servers, "test")
    await producer.start()
    try:
        for item in items:  # all sent before the runner starts: it takes them as one batch
            key, value, headers = item.envelope.to_kafka()
            await producer.send_and_wait(sandbox.topic, value=value, key=key, headers=headers)
        async with sandbox.consuming(producer, HANDLERS, batched):
            dead = await read_records(sandbox.bootstrap_servers, sandbox.dead_letter_topic, 1)

            async def poison_activity_applied() -> None:
                async with batched.connect() as conn:
                    stored = await conn.scalar(select(lead_activities.c.lead_id).where(
                        lead_activities.c.lead_id == poisoned))
                assert stored == poisoned
            await eventually(poison_activity_applied)
    finally:
        await close_producer(producer)
    assert [dict(r.headers)["ce_subject"].decode() for r in dead] == [str(poisoned)]

    for item in items:
        if item is not items[4]:
            await _apply(one_by_one, [item])
    assert await _state(batched) == await _state(one_by_one)


class StatementCounter:
    """Statements sent while counting: through SQLAlchemy and straight to the driver."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.counting = False

    def record(self, statement: str) -> None:
        # The model in force's version query runs at most once a second, not per batch.
        if self.counting and "FROM scoring_models" not in statement and not \
                statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            self.statements.append(" ".join(statement.split())[:80])


@contextmanager
def counted(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[StatementCounter]:
    """Count the statements of the enclosed work (SQLAlchemy's and the driver's own)."""
    counter = StatementCounter()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counter.record(statement)
    event.listen(engine.sync_engine, "before_cursor_execute", before)
    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
        original = getattr(asyncpg.Connection, name)

        def wrapped(self: Any, query: str, *args: Any, __original: Any = original,
                    **kwargs: Any) -> Any:
            counter.record(query)
            return __original(self, query, *args, **kwargs)
        monkeypatch.setattr(asyncpg.Connection, name, wrapped)
    try:
        yield counter
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
        monkeypatch.undo()


async def _hot_batch_statements(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
                                lead_count: int) -> list[str]:
    """Statements of one batch of `lead_count` new leads, each created with two activities."""
    now = datetime.now(UTC)
    items = []
    for n in range(lead_count):
        lead_id = uuid.uuid4()
        items += [_item(_created(lead_id, VP_SALES.model_copy(
                      update={"email": f"p{n}.{lead_id.hex[:6]}@gmail.com"}), now)),
                  _item(_activity(lead_id, "form_submitted", now)),
                  _item(_activity(lead_id, "page_view", now))]
    with counted(engine, monkeypatch) as counter:
        async with UnitOfWork(engine, "scoring") as uow:
            counter.counting = True
            await HANDLERS.apply(uow, items)
            counter.counting = False
            await uow.commit()
    return counter.statements


async def test_the_hot_path_takes_a_fixed_number_of_statements_per_batch(
        batched: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    await _hot_batch_statements(batched, monkeypatch, 1)  # the model in force is loaded
    one = await _hot_batch_statements(batched, monkeypatch, 1)
    many = await _hot_batch_statements(batched, monkeypatch, 50)
    print(f"\nstatements: 1 lead {len(one)}, 50 leads {len(many)}:\n  " + "\n  ".join(many))
    assert len(many) == len(one) <= 6


async def _engagement(engine: AsyncEngine, lead_id: uuid.UUID) -> tuple[int, list[str]]:
    """The lead's stored engagement score and the engagement rules its explanation names."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(leads).where(leads.c.lead_id == lead_id))).one()
    return row.engagement_score, [c["rule_id"] for c in row.contributions
                                  if not c["rule_id"].startswith("fit.")]


async def test_a_busy_leads_activities_are_kept_between_batches_not_loaded_again(
        batched: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    KEPT.clear()
    now = datetime.now(UTC)
    lead_id = uuid.uuid4()
    await _apply(batched, [_item(_created(lead_id, VP_SALES, now)),
                           _item(_activity(lead_id, "page_view", now))])
    with counted(batched, monkeypatch) as counter:
        counter.counting = True
        await _apply(batched, [_item(_activity(lead_id, "page_view", now))])
    assert RECENT_ACTIVITIES not in counter.statements
    # Both page views count (2 each), and a visit in the last 7 days (5).
    assert await _engagement(batched, lead_id) == (9, [
        "engagement.page_view", "engagement.page_view", "intensity.recent_visit"])

    KEPT.clear()  # as another process would: loaded, the same score
    await _apply(batched, [_item(_activity(lead_id, "form_submitted", now))])
    assert (await _engagement(batched, lead_id))[0] == 19


async def test_kept_activities_another_writer_changed_are_loaded_again(
        batched: AsyncEngine) -> None:
    """A merge (the rarer events' path, maybe in another process) moves a duplicate's form
    to the survivor whose page views this process kept: the survivor's next page view is
    scored with the form, as is the duplicate's after an unmerge."""
    KEPT.clear()
    now = datetime.now(UTC)
    survivor, duplicate = uuid.uuid4(), uuid.uuid4()
    await _apply(batched, [_item(_created(survivor, VP_SALES, now)),
                           _item(_activity(survivor, "page_view", now)),
                           _item(_created(duplicate, FREE_MAIL, now)),
                           _item(_activity(duplicate, "form_submitted", now))])
    await _apply(batched, [_item(LeadMerged(lead_id=survivor, merged_lead_id=duplicate,
                                            merge_id=uuid.uuid4(), profile=VP_SALES,
                                            merged_at=now))])
    await _apply(batched, [_item(_activity(survivor, "page_view", now))])
    # Two page views (2 each), the form (10), a visit in the last 7 days (5).
    assert await _engagement(batched, survivor) == (19, [
        "engagement.page_view", "engagement.page_view", "engagement.form_submitted",
        "intensity.recent_visit"])

    await _apply(batched, [_item(LeadUnmerged(
        lead_id=survivor, restored_lead_id=duplicate, merge_id=uuid.uuid4(), profile=VP_SALES,
        restored_profile=FREE_MAIL, unmerged_at=now))])
    await _apply(batched, [_item(_activity(survivor, "page_view", now)),
                           _item(_activity(duplicate, "page_view", now))])
    assert (await _engagement(batched, survivor))[0] == 2 * 3 + 5
    assert (await _engagement(batched, duplicate))[0] == 10 + 2 + 5
