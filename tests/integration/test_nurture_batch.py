"""Nurture's consumer a batch at a time, against real PostgreSQL: the statements a batch costs do
not grow with its size; a batch mixing leads, event types and several events of one lead stores
what applying its events one at a time stores; under the real consumer runner a poison event
among them is parked in the DLQ and changes nothing else."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.db import UnitOfWork, create_engine
from leadloop.events import CloudEvent, EventData, event_type_of
from leadloop.events.models import (
    Consent,
    DealClosed,
    LeadActivity,
    LeadConsentChanged,
    LeadCreated,
    LeadErased,
    LeadHandedOff,
    LeadMerged,
    LeadProfile,
    LeadQualified,
    LeadRejected,
    LeadScored,
    LeadSource,
    LeadUpdated,
)
from leadloop.handlers import Item
from leadloop.kafka import close_producer, create_producer
from leadloop_devstack.stack import Stack
from nurture.handlers import HANDLERS
from nurture.sequences import repository
from nurture.sequences.domain import EntryRule, Sequence
from nurture.sequences.steps import GuardPolicy
from nurture.tables import engagements, enrollments, lead_states, suppressions
from tests.integration.conftest import Sandbox, migrated_database
from tests.support import eventually, read_records, send_event

pytestmark = pytest.mark.asyncio

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CAMPAIGN = "spring"
SEQUENCES = [
    Sequence(key="spring", version=1, entry_rule=EntryRule.new_unqualified_lead,
             segment={"utm_campaign": [CAMPAIGN]},
             guards=GuardPolicy(max_per_day=10, max_per_week=10, quiet_hours=None),
             steps=[{"kind": "send_email", "template": "welcome"},  # type: ignore[list-item]
                    {"kind": "branch", "condition": "score_above", "score": 40,
                     "within_days": 2, "then": 2},
                    {"kind": "send_email", "template": "case-study"}]),
    Sequence(key="spring-lost", version=1, entry_rule=EntryRule.deal_lost,
             segment={"utm_campaign": [CAMPAIGN]}, entry_delay_seconds=600,
             steps=[{"kind": "send_email", "template": "welcome"}]),  # type: ignore[list-item]
]


async def _database(stack: Stack) -> AsyncEngine:
    engine = create_engine(await migrated_database(stack, "nurture", "nurture_batch"), 3)
    async with engine.begin() as conn:
        for sequence in SEQUENCES:
            await repository.add_sequence_version(conn, sequence)
    return engine


@pytest_asyncio.fixture
async def engines(stack: Stack) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two fresh nurture databases with the same sequences: one per way of applying."""
    batched, single = await asyncio.gather(_database(stack), _database(stack))
    yield batched, single
    await batched.dispose()
    await single.dispose()


def _item(event_data: EventData, lead_id: uuid.UUID) -> Item[Any]:
    return Item(event_data, CloudEvent(type=event_type_of(event_data), source="test",
                                       subject=str(lead_id), data={}))


def _profile(n: str, **extra: Any) -> LeadProfile:
    return LeadProfile(email=f"lee.{n}@widgets.example", first_name="Lee", company="Widgets",
                       **extra)


def _created(lead: uuid.UUID, at: datetime, campaign: str = CAMPAIGN,
             name: str | None = None) -> Item[Any]:
    return _item(LeadCreated(lead_id=lead, profile=_profile(name or lead.hex[:8]),
                             consent=Consent(email_marketing=True),
                             source=LeadSource(channel="form", utm_campaign=campaign),
                             created_at=at), lead)


def _scored(lead: uuid.UUID, score: int, at: datetime) -> Item[Any]:
    return _item(LeadScored(lead_id=lead, score=score, fit_score=score, engagement_score=0,
                            grade="B", model_version=1, is_mql=False, scored_at=at), lead)


def _activity(lead: uuid.UUID, kind: str, at: datetime) -> Item[Any]:
    return _item(LeadActivity(lead_id=lead, activity_id=uuid.uuid4(), kind=kind, occurred_at=at,
                              url="https://widgets.example/pricing"), lead)


def _qualified(lead: uuid.UUID, at: datetime) -> Item[Any]:
    return _item(LeadQualified(lead_id=lead, score=80, grade="A", model_version=1,
                               profile=_profile(lead.hex[:8]), qualified_at=at), lead)


def _handed_off(lead: uuid.UUID, at: datetime) -> Item[Any]:
    return _item(LeadHandedOff(lead_id=lead, assignment_id=uuid.uuid4(), rep=None,
                               routing_rule="fallback", routing_reason="test",
                               profile=_profile(lead.hex[:8]), score=80, grade="A",
                               qualified_at=at, handed_off_at=at), lead)


def lifecycle(lead: uuid.UUID) -> list[Item[Any]]:
    """What every lead causes in nurture: created, scored, a page view, qualified, handed off."""
    return [_created(lead, T0), _scored(lead, 20, T0 + timedelta(seconds=1)),
            _activity(lead, "page_view", T0 + timedelta(seconds=2)),
            _qualified(lead, T0 + timedelta(seconds=3)),
            _handed_off(lead, T0 + timedelta(seconds=4))]


# --- statements per batch ------------------------------------------------------------------


class StatementCounter:
    """Statements sent through SQLAlchemy and straight through the asyncpg driver."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def sqlalchemy(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def driver(self, record: Any) -> None:
        verb = record.query.split(None, 1)[0].rstrip(";").upper()
        if verb not in ("BEGIN", "COMMIT", "ROLLBACK"):
            self.statements.append(record.query)


@asynccontextmanager
async def counting(engine: AsyncEngine) -> AsyncIterator[tuple[UnitOfWork, StatementCounter]]:
    """A unit of work whose statements are counted (committed at the end)."""
    counter = StatementCounter()
    async with UnitOfWork(engine, "nurture") as uow:
        raw = await uow.connection.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        driver.add_query_logger(counter.driver)
        event.listen(engine.sync_engine, "before_cursor_execute", counter.sqlalchemy)
        try:
            yield uow, counter
            await asyncio.sleep(0)  # query loggers run on the next loop iteration
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", counter.sqlalchemy)
            driver.remove_query_logger(counter.driver)
        await uow.commit()


async def _statements_for(engine: AsyncEngine, leads: int) -> list[str]:
    items = [item for _ in range(leads) for item in lifecycle(uuid.uuid4())]
    return await _count(engine, items, leads)


async def _count(engine: AsyncEngine, items: list[Item[Any]], leads: int) -> list[str]:
    async with counting(engine) as (uow, counter):
        started = time.process_time()
        await HANDLERS.apply(uow, items)
        cpu_ms = (time.process_time() - started) * 1000
    print(f"\n{leads} leads: {len(counter.statements)} statements, "
          f"{cpu_ms / leads:.2f} ms of this process's CPU per lead")
    return counter.statements


async def test_a_batch_costs_the_same_few_statements_whatever_its_size(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    engine, _ = engines
    await _statements_for(engine, 1)  # warm: the sequences are read once, then kept
    small = await _statements_for(engine, 5)
    large = await _statements_for(engine, 100)
    for statement in large:
        print("  ", " ".join(statement.split())[:110])
    assert len(large) == len(small) <= 8


async def test_a_lead_whose_events_arrive_over_several_batches_costs_a_few_per_batch(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    # Topics are consumed apart: lead.created, then scores and visits, then qualification and
    # handoff come in later batches, over enrollments already stored.
    engine, _ = engines
    await _statements_for(engine, 1)
    counts = []
    for size in (5, 100):
        leads = [uuid.uuid4() for _ in range(size)]
        stages = [[lifecycle(lead)[n] for lead in leads for n in stage]
                  for stage in ((0,), (1, 2), (3, 4))]
        counts.append([len(await _count(engine, items, size)) for items in stages])
    assert counts[0] == counts[1] and max(counts[0]) <= 6, counts


# --- a mixed batch stores what one event at a time stores -----------------------------------


async def _apply_each(engine: AsyncEngine, items: list[Item[Any]]) -> list[Item[Any]]:
    """One transaction per event; returns the events that failed (rolled back)."""
    failed = []
    for item in items:
        try:
            async with UnitOfWork(engine, "nurture") as uow:
                await HANDLERS.apply(uow, [item])
                await uow.commit()
        except Exception:
            failed.append(item)
    return failed


async def _apply_batch(engine: AsyncEngine, items: list[Item[Any]]) -> None:
    """The whole batch in one transaction, as the consumer runner applies it."""
    async with UnitOfWork(engine, "nurture") as uow:
        await HANDLERS.apply(uow, items)
        await uow.commit()


def _due(row: Any) -> str | None:
    if row.next_step_due_at is None:
        return None
    return "on time" if row.next_step_due_at == row.step_started_at else "early"


async def stored(engine: AsyncEngine) -> dict[str, Any]:
    """What nurture stored, without the times the database or the clock chose."""
    async with engine.connect() as conn:
        states = {row.lead_id: {k: v for k, v in row._asdict().items() if k != "updated_at"}
                  for row in await conn.execute(select(lead_states))}
        runs = sorted(
            (row.lead_id, row.sequence_key, row.sequence_version, row.status, row.exit_reason,
             row.current_step, _due(row), row.step_started_at - row.enrolled_at,
             row.exited_at is not None)
            for row in await conn.execute(select(enrollments)))
        done = sorted((row.id, row.lead_id, row.kind, row.url, row.occurred_at)
                      for row in await conn.execute(select(engagements)))
        blocked = sorted(row.address_key for row in await conn.execute(select(suppressions)))
    return {"lead_states": states, "enrollments": runs, "engagements": done,
            "suppressions": blocked}


NAMES = ("hot", "cold", "lost", "rejected", "erased", "sold", "merged", "survivor")


def mixed_batch(leads: dict[str, uuid.UUID]) -> Iterator[Item[Any]]:
    """Several leads, every event type nurture consumes, several events of one lead."""
    hot, cold, lost, rejected, erased, sold, merged, survivor = (leads[n] for n in NAMES)
    at = T0
    # Scored, engaged, scored again and qualified: enrolled, woken, then stopped.
    yield _created(hot, at)
    yield _created(cold, at, campaign="autumn")
    yield _scored(hot, 30, at + timedelta(seconds=1))
    yield _activity(hot, "page_view", at + timedelta(seconds=2))
    # A deal lost before nurture saw the lead: its entry waits for the profile.
    yield _item(DealClosed(lead_id=lost, deal_id=uuid.uuid4(), external_id="crm-1",
                           outcome="lost", amount_minor=100, currency="EUR",
                           closed_at=at + timedelta(seconds=3)), lost)
    yield _scored(hot, 55, at + timedelta(seconds=4))
    yield _created(lost, at + timedelta(seconds=1))
    # A reply stops the sequences that exit on it; other activity kinds change nothing.
    yield _activity(cold, "email_replied", at + timedelta(seconds=5))
    yield _activity(cold, "form_submitted", at + timedelta(seconds=5))
    yield _activity(cold, "email_opened", at + timedelta(seconds=6))
    yield _qualified(hot, at + timedelta(seconds=7))
    # Rejected by sales, consent withdrawn, then a new profile.
    yield _created(rejected, at)
    yield _item(LeadRejected(lead_id=rejected, assignment_id=uuid.uuid4(), rep_id=uuid.uuid4(),
                             reason_code="bad_timing", rejected_at=at + timedelta(seconds=8)),
                rejected)
    yield _item(LeadConsentChanged(lead_id=rejected, purpose="email_marketing", granted=False,
                                   changed_at=at + timedelta(seconds=9)), rejected)
    yield _item(LeadUpdated(lead_id=rejected, profile=_profile("renamed", job_title="CTO"),
                            consent=Consent(email_marketing=False),
                            updated_at=at + timedelta(seconds=10)), rejected)
    # Erased: only the tombstone stays; a later page view is kept as before.
    yield _created(erased, at)
    yield _activity(erased, "page_view", at + timedelta(seconds=1))
    yield _item(LeadErased(lead_id=erased, erased_at=at + timedelta(seconds=11)), erased)
    yield _activity(erased, "page_view", at + timedelta(seconds=12))
    # Handed off before nurture saw it: never enrolled; then a won deal starts onboarding.
    yield _handed_off(sold, at)
    yield _created(sold, at - timedelta(seconds=1))
    yield _item(DealClosed(lead_id=sold, deal_id=uuid.uuid4(), external_id="crm-2",
                           outcome="won", amount_minor=100, currency="EUR",
                           closed_at=at + timedelta(seconds=13)), sold)
    # A duplicate merged into another lead stops its sequences.
    yield _created(merged, at)
    yield _item(LeadMerged(lead_id=survivor, merged_lead_id=merged, merge_id=uuid.uuid4(),
                           profile=_profile("survivor"), merged_at=at + timedelta(seconds=14)),
                survivor)
    yield _created(hot, at)  # a replayed lead.created enrolls nobody twice


async def test_a_mixed_batch_stores_what_one_event_at_a_time_stores(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    batched, single = engines
    leads = {name: uuid.uuid4() for name in NAMES}
    items = list(mixed_batch(leads))
    await _apply_batch(batched, items)
    assert await _apply_each(single, items) == []
    expected = await stored(single)
    assert await stored(batched) == expected

    # What one event at a time stored is what nurture always did.
    runs = {(lead, key): (status, reason)
            for lead, key, _, status, reason, *_ in expected["enrollments"]}
    assert runs == {
        (leads["hot"], "spring"): ("exited", "qualified"),
        (leads["hot"], "welcome"): ("exited", "qualified"),
        (leads["cold"], "welcome"): ("exited", "replied"),
        (leads["lost"], "spring-lost"): ("active", None),
        (leads["lost"], "re-engage"): ("active", None),
        (leads["rejected"], "spring"): ("active", None),
        (leads["rejected"], "welcome"): ("active", None),
        (leads["rejected"], "recycle"): ("active", None),
        (leads["sold"], "onboarding"): ("active", None),
        (leads["merged"], "spring"): ("exited", "merged"),
        (leads["merged"], "welcome"): ("exited", "merged"),
    }
    # The erased lead's page view before its erasure is gone, the one after it is kept.
    assert sorted(lead for _, lead, *_ in expected["engagements"]) == \
        sorted([leads["hot"], leads["cold"], leads["erased"]])
    assert expected["lead_states"][leads["erased"]]["email"] is None
    assert expected["lead_states"][leads["hot"]]["score"] == 55
    assert expected["lead_states"][leads["rejected"]]["email_consent"] is False


async def _send(producer: AIOKafkaProducer, topic: str, item: Item[Any]) -> str:
    data = item.event
    # A merge is about the duplicate: keyed by it, it keeps its place among that lead's events.
    lead = data.merged_lead_id if isinstance(data, LeadMerged) else data.lead_id
    return await send_event(producer, topic, data, lead)


async def test_a_poison_event_is_parked_by_the_runner_and_the_rest_applies_as_one_by_one(
        sandbox: Sandbox, engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    through_runner, single = engines
    poisoned = uuid.uuid4()
    # PostgreSQL refuses a NUL character in text: this event can never be stored.
    poison = _item(LeadUpdated(lead_id=poisoned, updated_at=T0,
                               profile=LeadProfile(email="nul@widgets.example",
                                                   first_name="Lee\x00")), poisoned)
    items = list(mixed_batch({name: uuid.uuid4() for name in NAMES}))
    items.insert(5, poison)

    producer = create_producer(sandbox.bootstrap_servers, "test")
    await producer.start()
    try:
        ids = [await _send(producer, sandbox.topic, item) for item in items]
        async with sandbox.consuming(producer, HANDLERS, through_runner):
            [parked] = await read_records(sandbox.bootstrap_servers,
                                          sandbox.dead_letter_topic, 1, timeout_s=60)

            async def all_applied() -> None:
                async with through_runner.connect() as conn:
                    done = (await conn.execute(
                        text("SELECT count(*) FROM processed_events WHERE consumer = :c"),
                        {"c": sandbox.service})).scalar()
                assert done == len(items) - 1
            await eventually(all_applied, timeout_s=60)
    finally:
        await close_producer(producer)

    assert dict(parked.headers)["ce_id"].decode() == ids[items.index(poison)]
    assert await _apply_each(single, items) == [poison]
    assert await stored(through_runner) == await stored(single)
