"""The accept SLA, pure: when timers fire and what a breach does. No I/O.

Each assignment held by a rep gets two durable timers (rows in `sla_timers`): a reminder at
half time and the deadline. A timer fires once: the worker claims it with FOR UPDATE SKIP
LOCKED and marks it fired in the same transaction as its effect.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

SLA_REASSIGN_RULE = "sla-reassignment"
SLA_ESCALATION_RULE = "sla-escalation"


class TimerKind(StrEnum):
    """What a timer does when it fires."""

    reminder = "reminder"
    deadline = "deadline"


class BreachAction(StrEnum):
    """What happened to a lead whose rep let the accept deadline pass."""

    reassigned = "reassigned"  # to the next available rep of the team
    escalated = "escalated"  # to the breaching rep's manager
    queued = "queued"  # nobody else can take it: the fallback queue


def timers_for(handed_off_at: datetime, accept_sla: timedelta) -> dict[TimerKind, datetime]:
    """When the reminder (half time) and the deadline fire."""
    return {TimerKind.reminder: handed_off_at + accept_sla / 2,
            TimerKind.deadline: handed_off_at + accept_sla}


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
