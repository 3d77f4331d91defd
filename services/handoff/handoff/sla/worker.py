"""The SLA timer worker: fires due reminders and deadlines, each exactly once.

A timer row and its assignment are claimed with FOR UPDATE SKIP LOCKED; the effect (reminder,
or breach and reassignment with their events in the outbox) and `fired_at` commit together.
A crash before the commit leaves the timer unfired, and it fires after the restart.
"""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
from prometheus_client import Counter

from handoff.assignments import repository
from handoff.assignments.domain import FALLBACK_QUEUE_RULE, AssignmentStatus
from handoff.config import HandoffSettings
from handoff.queue import alerts as queue_alerts
from handoff.reps import repository as rep_repository
from handoff.routing import assign
from handoff.routing.reference import profile_of, rep_of
from handoff.sla import repository as sla_repository
from handoff.sla.domain import (
    REMINDER_TYPE,
    SLA_ESCALATION_RULE,
    SLA_REASSIGN_RULE,
    BreachAction,
    TimerKind,
    breach_reason,
    plan_breach,
)
from handoff.webhooks import outbound
from handoff.webhooks import repository as webhook_repository
from handoff.webhooks.worker import wake_webhooks
from leadloop.app import Runtime, settings_of
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadSlaBreached, event_time_now
from leadloop.worker import run_worker

SLA_TIMERS_FIRED = Counter(
    "leadloop_handoff_sla_timers_fired_total", "SLA timers fired, by kind and outcome.",
    ["kind", "outcome"])

log = logging.getLogger(__name__)
_RETRY_FAILED_TIMER = timedelta(seconds=5)


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


async def fire_due_timers(new_uow: Any, settings: HandoffSettings, limit: int = 100) -> int:
    """Fire up to `limit` due timers, one transaction each; returns how many fired."""
    fired = 0
    while fired < limit:
        now = event_time_now()
        failure: Exception | None = None
        async with new_uow() as uow:
            row = await sla_repository.claim_due(uow.connection, now)
            if row is None:
                return fired
            try:
                outcome = await _fire(uow, row, now, settings)
                if outcome != queue_alerts.REARMED:
                    await sla_repository.mark_fired(uow.connection, row.timer_id, now)
                await uow.commit()
            except Exception as exc:  # rolled back with its events; defer the timer below
                failure = exc
        if failure is not None:
            log.error("SLA timer %s failed; retrying later: %r", row.timer_id, failure)
            async with new_uow() as uow:
                await sla_repository.defer(uow.connection, row.timer_id,
                                           now + _RETRY_FAILED_TIMER, repr(failure))
                await uow.commit()
            outcome = "failed"
        SLA_TIMERS_FIRED.labels(row.kind, outcome).inc()
        fired += 1
    return fired


async def _fire(uow: UnitOfWork, assignment: Any, now: datetime,
                settings: HandoffSettings) -> str:
    if assignment.kind in (TimerKind.queue_alert.value, TimerKind.queue_alert_mail.value):
        if assignment.status != AssignmentStatus.queued.value:
            return "moot"  # it left the fallback queue: nobody needs alerting any more
        if assignment.kind == TimerKind.queue_alert.value:
            return await queue_alerts.alert(uow, assignment, now, settings)
        return await queue_alerts.mail(uow, assignment, now, settings)
    if assignment.status != AssignmentStatus.assigned.value:
        return "moot"  # accepted, rejected or moved on meanwhile: nothing to do
    if assignment.kind == TimerKind.reminder.value:
        await _remind(uow, assignment, now)
        return "reminded"
    return (await _breach(uow, assignment, now, settings)).value


async def _remind(uow: UnitOfWork, assignment: Any, now: datetime) -> None:
    await repository.update_assignment(uow.connection, assignment.id, {"reminded_at": now})
    data = {"lead_id": str(assignment.lead_id), "assignment_id": str(assignment.id),
            "rep_id": str(assignment.rep_id), "deadline": assignment.sla_deadline.isoformat(),
            "reminded_at": now.isoformat()}
    event_id = uuid.uuid4()
    body = orjson.dumps({"type": REMINDER_TYPE, "timestamp": now.isoformat(),
                         "id": str(event_id), "data": data}).decode()
    await webhook_repository.enqueue(uow, [webhook_repository.Message(
        event_id, REMINDER_TYPE, assignment.lead_id, body)])


async def _breach(uow: UnitOfWork, assignment: Any, now: datetime,
                  settings: HandoffSettings) -> BreachAction:
    """Close the lapsed assignment and hand the lead to the manager, the next rep or the queue."""
    conn = uow.connection
    lead = await repository.qualified_lead(conn, assignment.lead_id)
    assert lead is not None, "an assignment's lead is kept until the lead is erased"
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
