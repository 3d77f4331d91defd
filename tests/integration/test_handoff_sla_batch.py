"""Handoff's SLA timer worker on real PostgreSQL: a burst of due reminders fires in one
transaction of a fixed few statements, each rep reminded once with one webhook delivery; a batch
mixing reminders, a moot timer and breaches fires everything but a breach that fails, which is
deferred with nothing of it published; a breach whose lead another transaction holds waits for
the next round; an assignment's reminder and deadline due together fire in that order; two
rounds at once never fire a timer twice."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.config import HandoffSettings
from handoff.handlers import HANDLERS
from handoff.queue import alerts as queue_alerts
from handoff.routing import repository as routing_repository
from handoff.routing.reference import invalidate_routing
from handoff.sla.domain import REMINDER_TYPE
from handoff.sla.worker import fire_due_timers
from leadloop.db import UnitOfWork
from leadloop_devstack.stack import Stack
from tests.integration.conftest import migrated_engine
from tests.integration.test_handoff_batch_routing import _item, _qualified
from tests.support.handoff_team import reps_and_a_subscriber
from tests.support.statements import counting_statements

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]
BREACHED = "leadloop.lead.sla_breached.v1"
HANDED_OFF = "leadloop.lead.handed_off.v1"


@pytest_asyncio.fixture
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A fresh handoff database: ann and bob in the default team, room for every lead, and a
    webhook subscriber for every event."""
    async with migrated_engine(stack, "handoff", "handoff_sla", pool_size=3) as engine:
        await reps_and_a_subscriber(engine, capacity=1000)
        invalidate_routing()
        yield engine


def _new_uow(engine: AsyncEngine) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(engine, "handoff")


async def _fire(engine: AsyncEngine, limit: int | None = None, **settings: Any) -> int:
    return await fire_due_timers(
        _new_uow(engine), HANDLERS.settings(HandoffSettings).model_copy(update=settings), limit)


async def _hand_off(engine: AsyncEngine, count: int) -> list[UUID]:
    """Route `count` qualified leads (one batch) to ann and bob; returns the leads."""
    leads = [uuid.uuid4() for _ in range(count)]
    async with UnitOfWork(engine, "handoff") as uow:
        await HANDLERS.apply(uow, [_item(_qualified(lead, n)) for n, lead in enumerate(leads)])
        await uow.commit()
    return leads


async def _make_due(engine: AsyncEngine, kind: str, leads: Sequence[UUID],
                    overdue_s: int = 60) -> None:
    """The leads' timers of this kind are overdue."""
    async with engine.begin() as conn:
        await conn.execute(text(
            "UPDATE sla_timers t SET due_at = now() - make_interval(secs => :overdue)"
            " FROM assignments a"
            " WHERE a.id = t.assignment_id AND t.kind = :kind AND a.lead_id = ANY(:leads)"),
            {"kind": kind, "leads": list(leads), "overdue": overdue_s})


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(text(sql), params))


async def _reminder_deliveries(engine: AsyncEngine) -> Counter[UUID]:
    rows = await _rows(engine, "SELECT lead_id FROM webhook_deliveries WHERE event_type = :t",
                       t=REMINDER_TYPE)
    return Counter(row.lead_id for row in rows)


async def test_a_burst_of_due_reminders_fires_in_one_transaction_of_a_few_statements(
        engine: AsyncEngine) -> None:
    leads = await _hand_off(engine, 160)
    rounds = []
    for burst in (leads[:10], leads[10:]):
        await _make_due(engine, "reminder", burst)
        with counting_statements(engine) as statements:
            fired = await _fire(engine)
        rounds.append((fired, statements))
    print("statements per round of due reminders: 10 →", len(rounds[0][1]),
          "150 →", len(rounds[1][1]))

    (small, few), (large, many) = rounds
    assert (small, large) == (10, 150), "each burst fires in one round"
    for statements in (few, many):
        # BEGIN, claim, SAVEPOINT, UPDATE reminded_at, webhook enqueue, RELEASE, mark fired,
        # COMMIT: one transaction, whatever the number of reminders.
        assert len([s for s in statements if s.startswith("BEGIN")]) == 1
        assert len([s for s in statements if s.startswith("COMMIT")]) == 1
    assert len(few) == len(many) <= 8

    reminded = await _rows(engine, "SELECT lead_id, reminded_at FROM assignments")
    assert len(reminded) == 160 and all(row.reminded_at is not None for row in reminded)
    assert await _reminder_deliveries(engine) == Counter(leads), "one delivery each"
    unfired = await _rows(engine, "SELECT kind FROM sla_timers WHERE fired_at IS NULL")
    assert Counter(row.kind for row in unfired) == {"deadline": 160}
    assert await _fire(engine) == 0, "nothing fires twice"
    assert await _reminder_deliveries(engine) == Counter(leads)


async def test_a_failing_breach_is_deferred_alone_and_publishes_nothing(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    leads = await _hand_off(engine, 7)
    reminded, (accepted, lapsed, failing) = leads[:4], leads[4:]
    first = await _assignments(engine)
    async with engine.begin() as conn:  # accepted before its half time: its reminder is moot
        await conn.execute(text("UPDATE assignments SET status = 'accepted', accepted_at = now()"
                                " WHERE lead_id = :lead"), {"lead": accepted})
    await _make_due(engine, "reminder", [*reminded, accepted])
    await _make_due(engine, "deadline", [lapsed, failing])
    async with engine.begin() as conn:  # only what the round publishes
        await conn.execute(text("DELETE FROM outbox"))

    store = routing_repository.store_handoffs

    async def store_failing_for_one_lead(uow: UnitOfWork, copies: Any, assignments: Any,
                                         *args: Any) -> set[UUID]:
        # After the breach closed the assignment and published lead.sla_breached: the
        # database refuses the hand-off (the transaction is in error until the rollback).
        if assignments[0].lead_id == failing:
            await (await uow.driver()).execute("SELECT 1 / 0")
        return await store(uow, copies, assignments, *args)

    monkeypatch.setattr(routing_repository, "store_handoffs", store_failing_for_one_lead)
    assert await _fire(engine) == 4 + 1 + 2

    assert await _reminder_deliveries(engine) == Counter(reminded)
    timers = await _timers(engine, first)
    for lead in [*reminded, accepted]:
        assert timers[lead, "reminder"].fired_at is not None
    assert timers[accepted, "reminder"].reminded_at is None, "nobody reminded of a taken lead"
    assert timers[lapsed, "deadline"].fired_at is not None
    deferred = timers[failing, "deadline"]
    assert deferred.fired_at is None and deferred.attempts == 1 and deferred.later
    assert "DivisionByZero" in deferred.last_error
    assert deferred.status == "assigned" and deferred.breached_at is None, "rolled back"

    statuses = await _statuses(engine)
    assert statuses[lapsed, "reassigned"] == statuses[lapsed, "assigned"] == 1, "handed on"
    assert statuses[failing, "assigned"] == 1 and statuses[failing, "reassigned"] == 0
    assert await _events(engine) == {(str(lapsed), BREACHED): 1, (str(lapsed), HANDED_OFF): 1}
    breach_hooks = await _rows(engine, "SELECT lead_id FROM webhook_deliveries"
                                        " WHERE event_type = :t", t=BREACHED)
    assert [row.lead_id for row in breach_hooks] == [lapsed], "none of the rolled-back breach"

    monkeypatch.setattr(routing_repository, "store_handoffs", store)
    await _make_due(engine, "deadline", [failing])
    assert await _fire(engine) == 1, "it fires once it can"
    assert (await _events(engine))[str(failing), BREACHED] == 1


async def test_a_breach_whose_lead_another_transaction_holds_fires_next_round(
        engine: AsyncEngine) -> None:
    busy, free, reminded = await _hand_off(engine, 3)
    first = await _assignments(engine)
    await _make_due(engine, "deadline", [busy, free])
    await _make_due(engine, "reminder", [reminded])

    async with engine.connect() as other:  # e.g. a manager assigning the lead by hand
        await other.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:lead, 0))"),
                            {"lead": str(busy)})
        assert await _fire(engine) == 2, "the reminder and the other lead's breach"
        await other.rollback()

    timers = await _timers(engine, first)
    assert timers[reminded, "reminder"].fired_at is not None
    assert timers[free, "deadline"].fired_at is not None
    waiting = timers[busy, "deadline"]
    assert waiting.fired_at is None and waiting.attempts == 0 and waiting.status == "assigned"
    assert await _fire(engine) == 1
    statuses = await _statuses(engine)
    assert statuses[busy, "reassigned"] == statuses[free, "reassigned"] == 1


async def test_a_reminder_and_a_deadline_due_together_fire_in_their_order(
        engine: AsyncEngine) -> None:
    (lead,) = await _hand_off(engine, 1)
    first = await _assignments(engine)
    await _make_due(engine, "reminder", [lead], overdue_s=180)  # both overdue, as after an
    await _make_due(engine, "deadline", [lead], overdue_s=30)  # outage of handoff

    assert await _fire(engine) == 1
    assert (await _timers(engine, first))[lead, "deadline"].fired_at is None
    assert await _fire(engine) == 1
    timers = await _timers(engine, first)
    assert timers[lead, "reminder"].reminded_at is not None
    assert timers[lead, "deadline"].breached_at is not None
    assert await _reminder_deliveries(engine) == {lead: 1}
    assert (await _events(engine))[str(lead), BREACHED] == 1


async def test_two_rounds_at_once_fire_every_timer_exactly_once(engine: AsyncEngine) -> None:
    leads = await _hand_off(engine, 150)
    await _make_due(engine, "reminder", leads)

    fired = await asyncio.gather(_fire(engine, limit=100), _fire(engine, limit=100))

    assert sum(fired) == 150
    assert await _reminder_deliveries(engine) == Counter(leads)


async def _assignments(engine: AsyncEngine) -> dict[UUID, UUID]:
    """Each lead's assignment (call it while each lead has one)."""
    return {row.lead_id: row.id for row in await _rows(
        engine, "SELECT lead_id, id FROM assignments")}


async def _timers(engine: AsyncEngine, assignments: dict[UUID, UUID]
                  ) -> dict[tuple[UUID, str], Any]:
    """The timers of these assignments, by lead and kind, with their assignment's state."""
    rows = await _rows(
        engine, "SELECT a.lead_id, t.kind, t.fired_at, t.attempts, t.last_error,"
                " t.due_at > now() AS later, a.status, a.reminded_at, a.breached_at"
                " FROM sla_timers t JOIN assignments a ON a.id = t.assignment_id"
                " WHERE a.id = ANY(:ids)", ids=list(assignments.values()))
    return {(row.lead_id, row.kind): row for row in rows}


async def _statuses(engine: AsyncEngine) -> Counter[tuple[UUID, str]]:
    return Counter((row.lead_id, row.status) for row in await _rows(
        engine, "SELECT lead_id, status FROM assignments"))


async def _events(engine: AsyncEngine) -> Counter[tuple[str, str]]:
    return Counter((row.subject, row.event_type) for row in await _rows(
        engine, "SELECT subject, event_type FROM outbox"))


async def test_a_burst_of_lapsed_deadlines_is_breached_a_few_a_round_and_all_of_it_soon(
        engine: AsyncEngine) -> None:
    """Breaches route again, holding the pools they route in until the round commits: a round
    takes a few, so routing a new lead meanwhile waits for a few breaches, not for a burst."""
    lapsed = await _hand_off(engine, 5)
    reminded = await _hand_off(engine, 3)
    first = await _assignments(engine)
    await _make_due(engine, "deadline", lapsed, overdue_s=120)
    await _make_due(engine, "reminder", reminded)

    assert await _fire(engine, sla_breaches_per_round=2) == 2 + 3, "two breaches, all reminders"
    timers = await _timers(engine, first)
    assert sum(timers[lead, "deadline"].fired_at is not None for lead in lapsed) == 2
    assert all(timers[lead, "reminder"].fired_at is not None for lead in reminded)
    assert await _fire(engine, sla_breaches_per_round=2) == 2
    assert await _fire(engine, sla_breaches_per_round=2) == 1
    assert await _fire(engine, sla_breaches_per_round=2) == 0

    statuses = await _statuses(engine)
    assert all(statuses[lead, "reassigned"] == 1 for lead in lapsed), "each breached once"
    events = await _events(engine)
    assert all(events[str(lead), BREACHED] == 1 and events[str(lead), HANDED_OFF] == 2
               for lead in lapsed), "breached once and handed on once (after the first)"


async def test_an_email_to_the_managers_holds_nothing_of_the_batch_while_it_is_sent(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A queue alert's email waits on a mail server (up to SMTP_TIMEOUT_S): it goes in a
    transaction of its own after the batch, so meanwhile the batch's reminders are committed
    and their assignments free (a rep's accept does not wait for the mail server)."""
    reminded = await _hand_off(engine, 3)
    queued, = await _hand_off(engine, 1)
    await _make_due(engine, "reminder", reminded)
    async with engine.begin() as conn:  # the lead waits in the fallback queue, its email due
        await conn.execute(text(
            "UPDATE assignments SET status = 'queued', rep_id = NULL WHERE lead_id = :lead"),
            {"lead": queued})
        await conn.execute(text(
            "INSERT INTO sla_timers (assignment_id, kind, due_at)"
            " SELECT id, 'queue_alert_mail', now() - interval '1 minute' FROM assignments"
            " WHERE lead_id = :lead"), {"lead": queued})
    seen_while_sending: list[Any] = []

    async def slow_mail(uow: UnitOfWork, timer: Any, now: Any, settings: Any) -> str:
        async with engine.connect() as other:  # as a rep accepting a reminded lead would
            rows = await other.execute(text(
                "SELECT lead_id, reminded_at FROM assignments WHERE lead_id = ANY(:leads)"
                " FOR UPDATE NOWAIT"), {"leads": reminded})
            seen_while_sending.extend(rows)
            await other.rollback()
        return "mailed"

    monkeypatch.setattr(queue_alerts, "mail", slow_mail)
    assert await _fire(engine) == 3 + 1
    assert len(seen_while_sending) == 3, "the email was sent, once"
    assert all(row.reminded_at is not None for row in seen_while_sending), \
        "the reminders were committed before the email went out"
    unfired = await _rows(engine, "SELECT kind FROM sla_timers WHERE fired_at IS NULL"
                                  " AND due_at <= now()")
    assert unfired == [], "every due timer fired"
