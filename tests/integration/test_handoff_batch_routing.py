"""Handoff's batch handlers on real PostgreSQL: a batch gives the stored state that applying its
events one at a time gives (assignments, capacity, round-robin credits, lead copies, timers,
webhook deliveries, events, speed-to-lead), costs a fixed number of statements whatever its
size, two batches routing into one team at once never overfill a rep, and a hand-off that
finds its lead already open writes and publishes nothing of itself."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.assignments.domain import FALLBACK_QUEUE_RULE
from handoff.config import HandoffSettings
from handoff.customers import repository as customer_repository
from handoff.exceptions import RoutingConflict
from handoff.handlers import HANDLERS
from handoff.reps import service
from handoff.reps.schemas import RepIn
from handoff.routing import assign, metrics
from handoff.routing import repository as routing_repository
from handoff.routing.intake import lead_copy
from handoff.routing.reference import invalidate_routing
from handoff.rules import repository as rule_repository
from handoff.webhooks import service as webhook_admin
from handoff.webhooks.schemas import SubscriberIn
from leadloop.db import UnitOfWork, create_engine
from leadloop.events import CloudEvent, EventData, event_type_of
from leadloop.events.models import LeadErased, LeadProfile, LeadQualified
from leadloop.handlers import Item
from leadloop_devstack.stack import Stack
from tests.integration.conftest import migrated_database
from tests.support.statements import counting_statements

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]
NOW = datetime.now(UTC)
OWNED = "acme.example"


async def _engine(stack: Stack, tag: str) -> AsyncEngine:
    engine = create_engine(await migrated_database(stack, "handoff", tag), pool_size=3)
    await _setup(engine)
    return engine


@pytest_asyncio.fixture
async def engines(stack: Stack) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two fresh handoff databases with the same reps, rule and webhook subscriber."""
    one, other = await _engine(stack, "handoff_each"), await _engine(stack, "handoff_batch")
    yield one, other
    await one.dispose()
    await other.dispose()


async def _setup(engine: AsyncEngine) -> None:
    """Team "sales" (ann weight 2 capacity 6, bob capacity 3 holding what it gets, cat
    inactive), dan owning acme.example (capacity 2), a rule sending DE leads to sales, and a
    webhook subscriber for every event."""
    reps = [("ann", "sales", {"weight": 2, "capacity": 6}), ("bob", "sales", {"capacity": 3}),
            ("cat", "sales", {"capacity": 5, "active": False}),
            ("dan", "keys", {"capacity": 2, "named_accounts": [OWNED]})]
    for name, team, fields in reps:  # one transaction each: rotation order is creation order
        async with UnitOfWork(engine, "handoff") as uow:
            await service.create_rep(uow, RepIn(name=name, email=f"{name}@sales.example",
                                                team=team, **fields))  # type: ignore[arg-type]
            await uow.commit()
    async with UnitOfWork(engine, "handoff") as uow:
        await rule_repository.add_version(uow.connection, uuid.uuid4(), 1, {
            "name": "dach", "position": 1, "team": "sales", "accept_sla_s": 600.0,
            "respect_working_hours": True, "active": True,
            "conditions": [{"field": "country", "op": "eq", "value": "DE"}]})
        await webhook_admin.create_subscriber(uow, SubscriberIn(
            name="crm", url="http://127.0.0.1:9/hook"))  # type: ignore[arg-type]
        await uow.commit()
    invalidate_routing()


def _item(event: EventData) -> Item[EventData]:
    envelope = CloudEvent(type=event_type_of(event), source="test",
                          subject=str(event.lead_id), data={})  # type: ignore[attr-defined]
    return Item(event, envelope)


def _qualified(lead_id: UUID, n: int, score: int = 80, domain: str = "lead.example",
               country: str = "DE", created: bool = False) -> LeadQualified:
    """A qualification; `created`: it carries the lead's creation, an hour before NOW."""
    return LeadQualified(lead_id=lead_id, score=score, grade="A", model_version=1,
                         profile=LeadProfile(email=f"l{n}@{domain}", country=country,
                                             company=f"Co {n}"),
                         qualified_at=NOW,
                         lead_created_at=NOW - timedelta(hours=1) if created else None)


async def _apply_one_by_one(engine: AsyncEngine, events: Sequence[EventData]) -> None:
    for one in events:
        async with UnitOfWork(engine, "handoff") as uow:
            await HANDLERS.apply(uow, [_item(one)])
            await uow.commit()


async def _apply_as_one_batch(engine: AsyncEngine, events: Sequence[EventData]) -> None:
    async with UnitOfWork(engine, "handoff") as uow:
        await HANDLERS.apply(uow, [_item(one) for one in events])
        await uow.commit()


async def _stored(engine: AsyncEngine) -> dict[str, Any]:
    """Everything routing stores, with reps named by email (ids differ between databases)."""
    async with engine.connect() as conn:
        reps = await conn.execute(text("SELECT id, email FROM reps"))
        emails = {row.id: row.email for row in reps}

        async def rows(sql: str) -> list[tuple[Any, ...]]:
            return sorted((tuple(row) for row in await conn.execute(text(sql))), key=repr)

        assignments = await rows(
            "SELECT lead_id, rep_id, team, status, routing_rule, routing_reason, rule_version,"
            " accept_sla_s, breaches, sla_deadline IS NOT NULL FROM assignments")
        cursors = await rows("SELECT pool, credits FROM round_robin_cursors")
        return {
            "assignments": sorted(((a[0], emails.get(a[1]), *a[2:]) for a in assignments),
                                  key=repr),
            "leads": await rows("SELECT lead_id, email, score, context FROM leads"),
            "erased": await rows("SELECT lead_id FROM erased_leads"),
            "timers": await rows("SELECT a.lead_id, t.kind FROM sla_timers t"
                                 " JOIN assignments a ON a.id = t.assignment_id"),
            "deliveries": await rows("SELECT lead_id, event_type, status FROM webhook_deliveries"),
            "events": await rows("SELECT subject, event_type FROM outbox"),
            "cursors": [(pool, {emails[UUID(rep)]: c for rep, c in credits.items()})
                        for pool, credits in cursors],
        }


def _observations() -> float:
    return next(s.value for s in metrics.CREATED_TO_HANDED_OFF.collect()[0].samples
                if s.name.endswith("_count"))


def _held(stored: dict[str, Any]) -> Counter[str]:
    return Counter(a[1] for a in stored["assignments"] if a[3] in ("assigned", "accepted"))


async def test_a_batch_of_qualified_leads_routes_like_one_at_a_time(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    each, batch = engines
    lead_ids = [uuid.uuid4() for _ in range(24)]
    events = [_qualified(lead_id, n, domain=OWNED if n % 6 == 0 else "lead.example",
                         country="FR" if n % 11 == 5 else "DE")
              for n, lead_id in enumerate(lead_ids)]

    await _apply_one_by_one(each, events)
    await _apply_as_one_batch(batch, events)

    one_by_one, batched = await _stored(each), await _stored(batch)
    assert batched == one_by_one
    held = _held(batched)
    assert held == {"ann@sales.example": 6, "bob@sales.example": 3, "dan@sales.example": 2}
    queued = [a for a in batched["assignments"] if a[3] == "queued"]
    assert len(queued) == 24 - 11 and len(batched["events"]) == 24
    # Each assignment has its reminder and deadline; each lead in the fallback queue the timer
    # that alerts its team's managers.
    assert len(batched["timers"]) == 2 * 11 + len(queued)
    assert len(batched["deliveries"]) == 24


async def test_a_mixed_batch_stores_what_its_events_one_at_a_time_store(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    each, batch = engines
    timed, untimed, twice, erased_first, erased_after, owned = (
        uuid.uuid4() for _ in range(6))
    events: list[EventData] = [
        _qualified(timed, 1, created=True),
        _qualified(untimed, 2),
        _qualified(twice, 3, created=True), _qualified(twice, 3, score=95, created=True),
        LeadErased(lead_id=erased_first, erased_at=NOW), _qualified(erased_first, 4),
        _qualified(erased_after, 5), LeadErased(lead_id=erased_after, erased_at=NOW),
        _qualified(owned, 6, domain=OWNED, created=True),
    ]

    # The runner keeps each lead's order, not the order across leads: a lead whose next event
    # goes to another handler waits for the next step. One at a time means in that order.
    items = [_item(one) for one in events]
    in_steps = [item.event for step in HANDLERS.plan(items) for _h, part in step for item in part]
    assert sorted(map(repr, in_steps)) == sorted(map(repr, events))

    before = _observations()
    await _apply_one_by_one(each, in_steps)
    observed_each = _observations() - before
    await _apply_as_one_batch(batch, events)
    observed_batch = _observations() - before - observed_each

    one_by_one, batched = await _stored(each), await _stored(batch)
    assert batched == one_by_one
    # created → handed off measured once for each routed lead whose qualification carries its
    # creation (twice's second qualification finds the lead assigned).
    assert observed_each == observed_batch == 3
    routed = {a[0] for a in batched["assignments"]}
    assert routed == {timed, untimed, twice, owned}
    assert [row[2] for row in batched["leads"] if row[0] == twice] == [80]
    assert {row[0] for row in batched["erased"]} == {erased_first, erased_after}
    assert not [d for d in batched["deliveries"] if d[0] in (erased_first, erased_after)]


async def _statements_for(engine: AsyncEngine, size: int) -> int:
    events: list[EventData] = []
    for n in range(size):
        lead_id = uuid.uuid4()
        events.append(_qualified(lead_id, n, created=True))
    async with UnitOfWork(engine, "handoff") as uow:
        await uow.driver()  # BEGIN, outside the count
        with counting_statements(engine) as statements:
            await HANDLERS.apply(uow, [_item(e) for e in events])
        await uow.commit()
    # The routing tables' version check runs at most once a second, not per batch.
    return len([s for s in statements if "xmin" not in s])


async def test_a_batch_costs_a_fixed_number_of_statements_whatever_its_size(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    _each, engine = engines
    await _statements_for(engine, 2)  # loads the routing tables
    small, large = await _statements_for(engine, 3), await _statements_for(engine, 60)
    print(f"handoff statements per batch of lead.qualified: 3 leads {small}, 60 leads {large}")
    # 5: lock the leads, read them (state, stage, account), lock the pools, read the reps'
    # loads, store the hand-offs.
    assert large == small <= 5


async def test_two_batches_routing_into_one_team_at_once_never_overfill_a_rep(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    _each, engine = engines

    async def route(start: int) -> None:
        events = [_qualified(uuid.uuid4(), n) for n in range(start, start + 8)]
        async with UnitOfWork(engine, "handoff") as uow:
            await HANDLERS.apply(uow, [_item(e) for e in events])
            await asyncio.sleep(0.05)  # hold the pool a while: the other batch must wait
            await uow.commit()

    await asyncio.gather(route(100), route(200))
    stored = await _stored(engine)
    assert _held(stored) == {"ann@sales.example": 6, "bob@sales.example": 3}
    assert len([a for a in stored["assignments"] if a[3] == "queued"]) == 16 - 9


async def _queued_elsewhere(engine: AsyncEngine, lead: LeadQualified) -> None:
    """Another transaction hands the lead to the fallback queue and commits."""
    async with UnitOfWork(engine, "handoff") as uow:
        choice = assign.Choice(None, "sales", FALLBACK_QUEUE_RULE, "queued elsewhere",
                               timedelta(minutes=10))
        assert await assign.store_handoffs(uow, [assign.handed_off(lead, choice, NOW)], {},
                                           [lead_copy(lead)])
        await uow.commit()


async def test_a_batch_whose_lead_got_an_open_assignment_meanwhile_writes_nothing(
        engines: tuple[AsyncEngine, AsyncEngine], monkeypatch: pytest.MonkeyPatch) -> None:
    _each, engine = engines
    lead_ids = [uuid.uuid4() for _ in range(3)]
    events = [_qualified(lead_id, n) for n, lead_id in enumerate(lead_ids)]
    before = await _stored(engine)
    read_loads = routing_repository.rep_loads

    async def loads_while_another_hands_off(uow: UnitOfWork, rep_ids: Any) -> dict[UUID, int]:
        # After the batch has read its leads, before it writes: the middle lead is taken.
        await _queued_elsewhere(engine, events[1])
        return await read_loads(uow, rep_ids)

    monkeypatch.setattr(routing_repository, "rep_loads", loads_while_another_hands_off)
    with pytest.raises(RoutingConflict):
        await _apply_as_one_batch(engine, events)

    # Only the other transaction's hand-off is there: none of the batch's leads, assignments,
    # timers, credits, webhook deliveries or events (the batch is retried by the runner).
    stored = await _stored(engine)
    assert {a[0] for a in stored["assignments"]} == {lead_ids[1]}
    assert {row[0] for row in stored["leads"]} == {lead_ids[1]}
    assert {t[0] for t in stored["timers"]} == {lead_ids[1]}
    assert {d[0] for d in stored["deliveries"]} == {lead_ids[1]}
    assert stored["events"] == [(str(lead_ids[1]), "leadloop.lead.handed_off.v1")]
    assert stored["cursors"] == before["cursors"]


async def test_a_hand_off_that_finds_its_lead_already_open_writes_and_publishes_nothing(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    _each, engine = engines
    lead = _qualified(uuid.uuid4(), 1)
    await _apply_as_one_batch(engine, [lead])
    routed = await _stored(engine)

    # As the SLA timer does: choose, hand off, and commit its own changes whatever came of it.
    async with UnitOfWork(engine, "handoff") as uow:
        now = datetime.now(UTC)
        choice = await assign.choose(uow, assign.facts_of(lead), now,
                                     HANDLERS.settings(HandoffSettings))
        assert choice.rep is not None and choice.cursor is not None
        assert await assign.hand_off(uow, lead, choice, now) is None
        await uow.commit()

    # No second assignment, timers, moved credits, webhook delivery or lead.handed_off.
    assert await _stored(engine) == routed


async def test_existing_customers_go_to_their_owners_by_an_accounts_alias_or_a_won_deal(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    _each, engine = engines
    async with engine.connect() as conn:
        reps = {row.email: row.id for row in await conn.execute(text("SELECT id, email FROM reps"))}
    via_alias, won_before, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with UnitOfWork(engine, "handoff") as uow:
        # An admin named bob owner of parent.example and mapped child.example onto it; ann won
        # a deal with a lead whose address is free mail (no account).
        await customer_repository.put_account(uow.connection, "parent.example",
                                              reps["bob@sales.example"], None, "admin")
        await customer_repository.put_account(uow.connection, "child.example", None,
                                              "parent.example", "admin")
        await customer_repository.save_stages(uow, {won_before: ("customer", NOW)})
        await customer_repository.set_owners(uow, {won_before: reps["ann@sales.example"]})
        await uow.commit()

    await _apply_as_one_batch(engine, [_qualified(via_alias, 1, domain="child.example"),
                                       _qualified(won_before, 2, domain="gmail.com"),
                                       _qualified(new, 3, domain="child-not.example")])

    routed = {a[0]: a[1:6] for a in (await _stored(engine))["assignments"]}
    assert routed[via_alias] == (
        "bob@sales.example", "sales", "assigned", "existing_customer",
        "existing customer: bob is the owner of account parent.example (set by an admin)")
    assert routed[won_before] == (
        "ann@sales.example", "sales", "assigned", "existing_customer",
        "existing customer: ann is the rep who won the lead's latest deal")
    assert routed[new][3] == "dach@v1"  # no customer: the rule routes it
