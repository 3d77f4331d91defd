"""The accept SLA, pure: when timers fire and what a breach does. No I/O.

The SLA counts working time of the rep holding the lead: "5 working minutes" handed off at
16:58 on a Friday to a rep working 09:00-17:00 ends at 09:03 on Monday, in the rep's time zone.
A rep without working hours works around the clock, so its SLA is clock time.

Each assignment held by a rep gets two durable timers (rows in `sla_timers`): a reminder at
half time and the deadline. A timer fires once: the worker claims it with FOR UPDATE SKIP
LOCKED and marks it fired in the same transaction as its effect.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from handoff.assignments.domain import AssignmentStatus
from handoff.routing.domain import WorkingHours

SLA_REASSIGN_RULE = "sla-reassignment"
SLA_ESCALATION_RULE = "sla-escalation"
REMINDER_TYPE = "leadloop.lead.sla_reminder.v1"
"""The type of the half-time reminder: a webhook only (not a Kafka event), for reps' tools to
nudge the rep."""


class TimerKind(StrEnum):
    """What a timer does when it fires."""

    reminder = "reminder"
    deadline = "deadline"
    queue_alert = "queue_alert"  # a lead waits in the fallback queue: alert the managers
    queue_alert_mail = "queue_alert_mail"  # ... and email them (see queue_alerts)


class Firing(StrEnum):
    """What firing a claimed timer does, given the state of the assignment it watches."""

    moot = "moot"  # the assignment left the state the timer watches: nothing to do
    remind = "remind"  # the half-time reminder (set-based, a batch of them at once)
    breach = "breach"  # the deadline lapsed: close the assignment and route the lead on
    alert = "alert"  # the lead waits in the fallback queue: alert the managers, re-arm
    mail = "mail"  # ... and email them


def firing_of(kind: str, status: str) -> Firing:
    """What a due timer of this kind does to an assignment in this status."""
    if kind in (TimerKind.queue_alert, TimerKind.queue_alert_mail):
        if status != AssignmentStatus.queued:
            return Firing.moot  # it left the fallback queue: nobody needs alerting any more
        return Firing.alert if kind == TimerKind.queue_alert else Firing.mail
    if status != AssignmentStatus.assigned:
        return Firing.moot  # accepted, rejected or moved on meanwhile
    return Firing.remind if kind == TimerKind.reminder else Firing.breach


class BreachAction(StrEnum):
    """What happened to a lead whose rep let the accept deadline pass."""

    reassigned = "reassigned"  # to the next available rep of the team
    escalated = "escalated"  # to the breaching rep's manager
    queued = "queued"  # nobody else can take it: the fallback queue


def add_working_time(start: datetime, duration: timedelta,
                     hours: WorkingHours | None) -> datetime:
    """The moment `duration` of working time within `hours` has passed since `start`.
    Outside the hours the clock stands still; no hours (or hours without any working time)
    means clock time."""
    if hours is None or not hours.days or hours.start == hours.end or duration <= timedelta(0):
        return start + duration
    remaining = duration
    for window_start, window_end in hours.windows_from(start):
        begin = max(window_start, start)
        if remaining <= window_end - begin:
            return begin + remaining
        remaining -= window_end - begin
    raise AssertionError("windows_from never ends")  # pragma: no cover


def timers_for(handed_off_at: datetime, accept_sla: timedelta,
               hours: WorkingHours | None = None) -> dict[TimerKind, datetime]:
    """When the reminder (half the working time) and the deadline fire for a rep with
    these working hours."""
    return {TimerKind.reminder: add_working_time(handed_off_at, accept_sla / 2, hours),
            TimerKind.deadline: add_working_time(handed_off_at, accept_sla, hours)}


@dataclass(frozen=True, slots=True)
class BreachPlan:
    """Where the lead goes next: the manager (escalation) or the team's rotation."""

    escalate_to: UUID | None
    exclude: frozenset[UUID]


def plan_breach(*, breaches: int, escalate_after: int, manager_id: UUID | None,
                manager_available: bool, breached_reps: frozenset[UUID]) -> BreachPlan:
    """After `breaches` missed deadlines on this lead (this one included), escalate to the
    manager once there have been `escalate_after` of them and the manager can take it;
    otherwise route on in the team, never back to a rep who already let it lapse."""
    if (breaches >= escalate_after and manager_id is not None and manager_available
            and manager_id not in breached_reps):
        return BreachPlan(escalate_to=manager_id, exclude=breached_reps)
    return BreachPlan(escalate_to=None, exclude=breached_reps)


def breach_reason(action: BreachAction, breaches: int, detail: str) -> str:
    """The routing reason a reassignment records."""
    return f"accept SLA missed ({breaches} time(s)); {action.value}: {detail}"
