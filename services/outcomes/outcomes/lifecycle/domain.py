"""Each lead's lifecycle stage, decided from the events outcomes consumes. Pure, no I/O.

Outcomes owns the stage: it sees every event and records the deals. What moves a lead (its
cause) and to where:

| event | stage |
|---|---|
| lead.created (channel `subscription` or `newsletter`) | subscriber |
| lead.created (any other channel), lead.activity `form_submitted` | lead |
| lead.qualified | mql |
| lead.accepted | sql |
| deal.opened | opportunity |
| deal.closed won, the lead's first won deal | customer |
| deal.closed won, another deal | repeat_customer |
| lead.disqualified | disqualified |
| lead.closed (closed as not converted) | closed_not_converted |

Moves follow `leadloop.lifecycle.can_move` (forward only). An admin reset sets any stage and
makes every cause that happened before it count no more (a replay of the history, or a late
event from a lagging topic, does not undo the reset). A lead's first won deal is remembered by
id, so a redelivered or replayed deal.closed never makes a customer a repeat customer.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from leadloop.events.models import (
    Actor,
    DealClosed,
    DealOpened,
    EventData,
    LeadAccepted,
    LeadActivity,
    LeadClosed,
    LeadCreated,
    LeadDisqualified,
    LeadQualified,
    LeadStageChanged,
    event_type_of,
)
from leadloop.handlers import Item
from leadloop.lifecycle import CUSTOMER_STAGES, LifecycleStage, can_move

SUBSCRIBER_CHANNELS = frozenset({"subscription", "newsletter"})
ADMIN_RESET = "admin_reset"


@dataclass(frozen=True, slots=True)
class LeadLifecycle:
    """A lead's stage as outcomes keeps it."""

    lead_id: UUID
    stage: LifecycleStage | None = None
    stage_at: datetime | None = None
    first_won_deal_id: UUID | None = None
    reset_at: datetime | None = None
    erased: bool = False


@dataclass(frozen=True, slots=True)
class Cause:
    """What an event says about a lead's stage: the stage it moves to, and when."""

    stage: LifecycleStage
    at: datetime
    won_deal_id: UUID | None = None


def cause_of(event: EventData, first_won_deal_id: UUID | None) -> Cause | None:
    """The stage `event` moves its lead to (None: it tells nothing about the stage)."""
    match event:
        case LeadCreated():
            subscriber = (event.source.channel or "").lower() in SUBSCRIBER_CHANNELS
            return Cause(LifecycleStage.subscriber if subscriber else LifecycleStage.lead,
                         event.created_at)
        case LeadActivity() if event.kind == "form_submitted":
            return Cause(LifecycleStage.lead, event.occurred_at)
        case LeadQualified():
            return Cause(LifecycleStage.mql, event.qualified_at)
        case LeadAccepted():
            return Cause(LifecycleStage.sql, event.accepted_at)
        case DealOpened():
            return Cause(LifecycleStage.opportunity, event.opened_at)
        case DealClosed() if event.outcome == "won":
            repeat = first_won_deal_id is not None and first_won_deal_id != event.deal_id
            return Cause(LifecycleStage.repeat_customer if repeat else LifecycleStage.customer,
                         event.closed_at, event.deal_id)
        case LeadDisqualified():
            return Cause(LifecycleStage.disqualified, event.disqualified_at)
        case LeadClosed():
            return Cause(LifecycleStage.closed_not_converted, event.closed_at)
        case _:
            return None


def _cause_id(item: Item[EventData]) -> str:
    event = item.event
    return str(event.deal_id) if isinstance(event, DealClosed | DealOpened) else item.envelope.id


def advance(current: LeadLifecycle, item: Item[EventData]
            ) -> tuple[LeadLifecycle, LeadStageChanged | None]:
    """The lead after one event, and the stage change it announces (None: no change)."""
    if current.erased:
        return current, None
    cause = cause_of(item.event, current.first_won_deal_id)
    if cause is None or (current.reset_at is not None and cause.at < current.reset_at):
        return current, None
    after = current
    if cause.won_deal_id is not None and current.first_won_deal_id is None:
        after = replace(after, first_won_deal_id=cause.won_deal_id)
    if not can_move(current.stage, cause.stage):
        return after, None
    after = replace(after, stage=cause.stage, stage_at=cause.at)
    return after, LeadStageChanged(
        lead_id=current.lead_id, stage=cause.stage.value,
        previous_stage=current.stage.value if current.stage else None,
        cause=event_type_of(item.event), cause_id=_cause_id(item), changed_at=cause.at)


@dataclass(slots=True)
class StagePlan:
    """What a batch writes: the leads whose stage row changed, and the changes to announce."""

    rows: dict[UUID, LeadLifecycle] = field(default_factory=dict)
    changes: list[LeadStageChanged] = field(default_factory=list)


def plan_stages(items: Sequence[Item[EventData]], stored: Mapping[UUID, LeadLifecycle]
                ) -> StagePlan:
    """Apply a batch's events (in consumption order) to the stored stages."""
    plan = StagePlan()
    current: dict[UUID, LeadLifecycle] = {}
    for item in items:
        lead_id: UUID | None = getattr(item.event, "lead_id", None)
        if lead_id is None:
            continue
        before = current.get(lead_id) or stored.get(lead_id) or LeadLifecycle(lead_id)
        after, change = advance(before, item)
        current[lead_id] = after
        if after != before:
            plan.rows[lead_id] = after
        if change is not None:
            plan.changes.append(change)
    return plan


def reset(current: LeadLifecycle, stage: LifecycleStage, reason: str, by: Actor,
          now: datetime) -> tuple[LeadLifecycle, LeadStageChanged]:
    """An admin's reset to `stage` (any direction): causes before `now` count no more. A reset
    below customer forgets the first won deal too, so the next win makes a customer again."""
    first_won = current.first_won_deal_id if stage in CUSTOMER_STAGES else None
    after = replace(current, stage=stage, stage_at=now, reset_at=now,
                    first_won_deal_id=first_won)
    return after, LeadStageChanged(
        lead_id=current.lead_id, stage=stage.value,
        previous_stage=current.stage.value if current.stage else None, cause=ADMIN_RESET,
        reset=True, reason=reason, by=by, changed_at=now)
