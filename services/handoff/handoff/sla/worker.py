"""The SLA timer worker: fires due reminders, deadlines and queue alerts a batch at a time, each
timer exactly once.

A round claims up to `sla_batch_size` due timers with their assignments in one statement (FOR
UPDATE OF both, SKIP LOCKED, most overdue first) and fires them in one transaction:
- moot timers (the assignment left the state the timer watches) are only marked fired;
- reminders, the bulk of a burst of hand-offs, set-based: one UPDATE of `reminded_at` and one
  webhook enqueue for all of them;
- breaches (at most `sla_breaches_per_round`: the pools they route in stay locked until the
  commit, and routing new leads waits for them) and queue alerts one at a time, each in a
  savepoint: one that fails is
  rolled back to it, with the events it published (UnitOfWork.savepoint), and deferred (retried
  5 s later, its error recorded) without undoing the rest of the batch;
- one statement marks every fired timer, one defers the failed ones, and it all commits
  together: a crash before the commit leaves the whole batch unfired, and it fires after the
  restart. A queue alert re-arms rather than fires (queue.alerts).
Queue-alert emails are not in the batch: each goes in a transaction of its own after it (see
`fire_due_timers`), so a slow mail server holds nothing but the email's timer.
An assignment fires one timer a round, its most overdue: a second one due (a deadline after its
reminder, after an outage) fires next round, after the first one's effects, as before.

Locks, in the order this transaction takes them, and why that order never deadlocks:
1. the claimed timers and their assignments, SKIP LOCKED: never waits;
2. the advisory locks of the leads whose deadline lapsed (the key of assignments.repository
   .lock_lead), all in one statement in lead-id order, but only where free (try-locks: never
   waits). A breach hands its lead off again, as routing, the queue drain and a manager's
   assignment do, each under the lead's lock; a lead another transaction holds is left, timer
   unfired, for the next round. It cannot wait here: those others take the lead's lock first
   and the assignment's row lock second (the drain, a manual assignment, an erasure), and this
   transaction already holds the rows, so waiting would close a cycle;
3. the round-robin pools the breaches route in, all in one statement in pool-name order
   (routing.repository.lock_pools) before any breach acts; a breach's own `assign.choose` then
   locks a pool this transaction already holds. This is the only wait. The pools' other
   holders never wait for what this transaction holds: a routing batch has all its leads'
   locks before it asks for pools, in the same name order; the queue drain has its lead and
   queued row before it asks for its one pool; sales actions (accept, reject, contact) lock one
   assignment row and nothing after it. One cycle predates batching: a consumer batch that
   routes leads (pools held) and then erases a lead or closes a won lead's assignment may wait
   for a lead or row this transaction holds while this one waits for its pool; PostgreSQL
   detects it and aborts one of the two, which runs again (this round: whole).
Reminders, queue alerts and moot timers take no lead lock: they change only the rows they
claimed (and re-arm or schedule their own assignment's timers), and queue webhooks.
"""

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import orjson
from prometheus_client import Counter

from handoff.assignments import repository
from handoff.assignments.domain import FALLBACK_QUEUE_RULE, AssignmentStatus
from handoff.config import HandoffSettings
from handoff.customers import repository as customer_repository
from handoff.customers.repository import LeadCopy
from handoff.queue import alerts as queue_alerts
from handoff.reps import repository as rep_repository
from handoff.routing import assign
from handoff.routing import repository as routing_repository
from handoff.routing.reference import profile_of, rep_of, routing_tables
from handoff.sla import repository as sla_repository
from handoff.sla.domain import (
    REMINDER_TYPE,
    SLA_ESCALATION_RULE,
    SLA_REASSIGN_RULE,
    BreachAction,
    Firing,
    breach_reason,
    firing_of,
    plan_breach,
)
from handoff.sla.repository import DueTimer
from handoff.webhooks import outbound
from handoff.webhooks import repository as webhook_repository
from handoff.webhooks.worker import wake_webhooks
from leadloop.app import Runtime, settings_of
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadQualified, LeadSlaBreached, event_time_now
from leadloop.worker import run_worker

SLA_TIMERS_FIRED = Counter(
    "leadloop_handoff_sla_timers_fired_total", "SLA timers fired, by kind and outcome.",
    ["kind", "outcome"])

log = logging.getLogger(__name__)
_RETRY_FAILED_TIMER = timedelta(seconds=5)
_ONE_BY_ONE = (Firing.breach, Firing.alert, Firing.mail)


async def fire_timers(runtime: Runtime) -> int:
    """One round: fire what is due; the reminders and hand-offs it queued go out at once."""
    fired = await fire_due_timers(runtime.unit_of_work, settings_of(runtime, HandoffSettings))
    if fired:
        wake_webhooks(runtime)
    return fired


async def run_sla_timers(runtime: Runtime) -> None:
    """Background worker: fire due timers until the service stops."""
    await run_worker(runtime, "sla-timers", fire_timers, backoff_max_s=10.0,
                     interval_s=settings_of(runtime, HandoffSettings).sla_poll_interval_s)


# Queue-alert emails sent per round, after its batch, each in a transaction of its own.
MAILS_PER_ROUND = 20


async def fire_due_timers(new_uow: Callable[[], UnitOfWork], settings: HandoffSettings,
                          limit: int | None = None) -> int:
    """Fire one batch of due timers (at most `limit`, else `sla_batch_size`) in one
    transaction, then the due queue-alert emails one transaction each; returns how many it
    fired, re-armed or deferred. An email waits on a mail server (up to SMTP_TIMEOUT_S):
    inside the batch it would hold the batch's assignments (a rep's accept would wait) and the
    pools its breaches route in (routing new leads would wait); on its own it holds its
    timer."""
    fired, mails_due = await _fire_round(new_uow, settings, limit or settings.sla_batch_size,
                                         mails=False)
    for _ in range(MAILS_PER_ROUND if mails_due else 0):
        sent, _ = await _fire_round(new_uow, settings, 1, mails=True)
        if not sent:
            break
        fired += sent
    return fired


async def _fire_round(new_uow: Callable[[], UnitOfWork], settings: HandoffSettings,
                      limit: int, *,
                      mails: bool) -> tuple[int, bool]:
    """Claim up to `limit` due timers (only queue-alert emails with `mails`) and fire them in
    one transaction, emails only with `mails`; how many fired, and whether an email was left
    for its own transaction."""
    now = event_time_now()
    async with new_uow() as uow:
        due = await sla_repository.claim_due(uow.connection, now, limit, mails_only=mails)
        if not due:
            return 0, False
        emails = {timer.timer_id for timer in due
                  if firing_of(timer.kind, timer.status) is Firing.mail}
        if not mails:
            due = [timer for timer in due if timer.timer_id not in emails]
        outcomes, failures = await _fire_batch(uow, due, now, settings)
        await sla_repository.mark_fired(
            uow, [timer_id for timer_id, outcome in outcomes.items()
                  if outcome != queue_alerts.REARMED], now)
        for timer_id, failure in failures.items():
            log.error("SLA timer %s failed; retrying later: %r", timer_id, failure)
        await sla_repository.defer(uow, {timer_id: repr(failure)
                                         for timer_id, failure in failures.items()},
                                   now + _RETRY_FAILED_TIMER)
        await uow.commit()
    for timer in due:
        outcome = "failed" if timer.timer_id in failures else outcomes.get(timer.timer_id)
        if outcome is not None:  # None: left for the next round
            SLA_TIMERS_FIRED.labels(timer.kind, outcome).inc()
    return len(outcomes) + len(failures), bool(emails) and not mails


async def _fire_batch(uow: UnitOfWork, due: Sequence[DueTimer], now: datetime,
                      settings: HandoffSettings
                      ) -> tuple[dict[int, str], dict[int, Exception]]:
    """Act on the claimed timers; returns the outcome of each timer that fired (or re-armed)
    and the error of each that failed (their effects rolled back)."""
    # One timer of an assignment a round, the most overdue: the next (a deadline after its
    # reminder, after an outage) fires next round and sees what this one did, as when timers
    # fired one at a time.
    first: dict[UUID, DueTimer] = {}
    for timer in due:
        first.setdefault(timer.id, timer)
    due = list(first.values())
    firing = {timer.timer_id: firing_of(timer.kind, timer.status) for timer in due}
    outcomes = {timer.timer_id: "moot" for timer in due if firing[timer.timer_id] is Firing.moot}
    failures: dict[int, Exception] = {}

    reminders = [timer for timer in due if firing[timer.timer_id] is Firing.remind]
    if reminders:
        try:
            async with uow.savepoint():
                await _remind(uow, reminders, now)
        except Exception as exc:  # rolled back together: deferred together
            failures |= dict.fromkeys((timer.timer_id for timer in reminders), exc)
        else:
            outcomes |= dict.fromkeys((timer.timer_id for timer in reminders), "reminded")

    one_by_one = [timer for timer in due if firing[timer.timer_id] in _ONE_BY_ONE]
    breaching = [timer for timer in one_by_one if firing[timer.timer_id] is Firing.breach
                 ][:settings.sla_breaches_per_round]  # the others: next round (see config)
    held, copies = await _hold_breaching(uow, breaching, settings)
    for timer in one_by_one:
        if firing[timer.timer_id] is Firing.breach and timer.lead_id not in held:
            continue  # past this round's breaches, or another transaction holds the lead
        try:
            async with uow.savepoint():
                outcomes[timer.timer_id] = await _fire_one(
                    uow, timer, firing[timer.timer_id], copies, settings)
        except Exception as exc:  # rolled back to its savepoint, events and all
            failures[timer.timer_id] = exc
    return outcomes, failures


async def _fire_one(uow: UnitOfWork, timer: DueTimer, firing: Firing,
                    copies: Mapping[UUID, LeadCopy], settings: HandoffSettings) -> str:
    now = event_time_now()
    if firing is Firing.alert:
        return await queue_alerts.alert(uow, timer, now, settings)
    if firing is Firing.mail:
        return await queue_alerts.mail(uow, timer, now, settings)
    return (await _breach(uow, timer, copies.get(timer.lead_id), now, settings)).value


async def _remind(uow: UnitOfWork, timers: Sequence[DueTimer], now: datetime) -> None:
    """Remind the reps of these assignments: one UPDATE, one webhook enqueue for them all."""
    messages = [_reminder(timer, now) for timer in timers]
    await sla_repository.mark_reminded(uow, [timer.id for timer in timers], now)
    await webhook_repository.enqueue(uow, messages)


def _reminder(assignment: DueTimer, now: datetime) -> webhook_repository.Message:
    """The half-time reminder's webhook message (pure)."""
    assert assignment.sla_deadline is not None, "an assignment held by a rep has a deadline"
    data = {"lead_id": str(assignment.lead_id), "assignment_id": str(assignment.id),
            "rep_id": str(assignment.rep_id), "deadline": assignment.sla_deadline.isoformat(),
            "reminded_at": now.isoformat()}
    event_id = uuid.uuid4()
    body = orjson.dumps({"type": REMINDER_TYPE, "timestamp": now.isoformat(),
                         "id": str(event_id), "data": data}).decode()
    return webhook_repository.Message(event_id, REMINDER_TYPE, assignment.lead_id, body)


async def _hold_breaching(uow: UnitOfWork, breaching: Sequence[DueTimer],
                          settings: HandoffSettings) -> tuple[set[UUID], dict[UUID, LeadCopy]]:
    """Lock the leads whose deadline lapsed (those free: see the module's docstring), read
    their copies after the locks, and lock the pools they route in, all pools at once in name
    order. Returns the leads held and their copies."""
    if not breaching:
        return set(), {}
    held = await routing_repository.try_lock_leads(uow, [t.lead_id for t in breaching])
    copies = await customer_repository.lead_copies(uow, sorted(held))
    tables = await routing_tables(uow.connection)
    pools: set[str] = set()
    for lead_id, copy in copies.items():
        try:
            facts = assign.facts_of(_qualified(lead_id, copy))
        except Exception:  # a copy routing cannot read: its breach fails alone, in its savepoint
            continue
        pools.add(assign.pool_of(tables, facts, settings.default_team))
    await routing_repository.lock_pools(uow, sorted(pools))
    return held, copies


def _qualified(lead_id: UUID, copy: LeadCopy) -> LeadQualified:
    """The lead as its lead.qualified described it (repository.qualified_lead, from a copy)."""
    return LeadQualified.model_validate({**copy.context, "lead_id": lead_id})


async def _breach(uow: UnitOfWork, assignment: DueTimer, copy: LeadCopy | None, now: datetime,
                  settings: HandoffSettings) -> BreachAction:
    """Close the lapsed assignment and hand the lead to the manager, the next rep or the queue."""
    conn = uow.connection
    assert copy is not None, "an assignment's lead is kept until the lead is erased"
    assert assignment.rep_id is not None, "a lapsed assignment was held by a rep"
    lead = _qualified(assignment.lead_id, copy)
    earlier = await repository.breached_reps(conn, assignment.lead_id)
    breached = frozenset([*earlier, assignment.rep_id])
    breaches = assignment.breaches + 1
    await repository.update_assignment(conn, assignment.id, {
        "status": AssignmentStatus.reassigned.value, "breached_at": now})

    rep = await rep_repository.get_rep(conn, assignment.rep_id)
    manager = (await rep_repository.get_rep(conn, rep.manager_id)
               if rep is not None and rep.manager_id is not None else None)
    manager_free = manager is not None and profile_of(manager).candidate(
        now, respect_working_hours=False).available
    plan = plan_breach(breaches=breaches, escalate_after=settings.escalate_after_breaches,
                       manager_id=manager.id if manager else None,
                       manager_available=manager_free, breached_reps=breached)
    sla = timedelta(seconds=assignment.accept_sla_s or settings.accept_sla_s)
    if plan.escalate_to is not None and manager is not None:
        action = BreachAction.escalated
        choice = assign.Choice(rep_of(manager), manager.team, SLA_ESCALATION_RULE,
                               breach_reason(action, breaches, f"to manager {manager.name}"),
                               sla, assignment.rule_id, assignment.rule_version)
    else:
        routed = await assign.choose(uow, assign.facts_of(lead), now, settings, plan.exclude)
        action = BreachAction.reassigned if routed.rep is not None else BreachAction.queued
        rule = SLA_REASSIGN_RULE if routed.rep is not None else FALLBACK_QUEUE_RULE
        choice = assign.Choice(routed.rep, routed.team, rule,
                               breach_reason(action, breaches, routed.reason),
                               routed.accept_sla, routed.rule_id, routed.rule_version,
                               routed.pool, routed.cursor)
    await outbound.publish(uow, LeadSlaBreached(
        lead_id=assignment.lead_id, assignment_id=assignment.id, rep_id=assignment.rep_id,
        deadline=assignment.sla_deadline, action=action.value,
        next_rep_id=choice.rep.id if choice.rep is not None else None, breached_at=now))
    await assign.hand_off(uow, lead, choice, now, breaches=breaches)
    return action
