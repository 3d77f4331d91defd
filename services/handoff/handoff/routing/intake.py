"""Routing a batch of qualified leads, pure: which leads route, and to whom, in event order.

The batch is routed as if its leads came one at a time: each choice sees the reps' loads and
the pools' round-robin credits left by the choices before it, so a batch gives the same
assignments as the same leads routed one by one (same distribution, same capacity limits).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from handoff.assignments.domain import RoundRobinCursor
from handoff.config import HandoffSettings
from handoff.customers.domain import CustomerContext
from handoff.routing.assign import HandOff, RepLoads, decide, handed_off
from handoff.routing.domain import LeadFacts
from handoff.routing.reference import RoutingTables
from handoff.routing.repository import LeadState
from leadloop.events.models import LeadQualified


@dataclass(frozen=True, slots=True)
class Skipped:
    """A lead.qualified that routes nothing, and why."""

    lead_id: UUID
    reason: str


def leads_to_route(events: Sequence[LeadQualified], states: Mapping[UUID, LeadState]
                   ) -> tuple[list[LeadQualified], list[Skipped]]:
    """The qualifications that route, in order: not of an erased lead, nor of one with an open
    assignment; a lead qualified twice in the batch routes once (its first qualification
    opens an assignment, so the next finds it open)."""
    routing: list[LeadQualified] = []
    skipped: list[Skipped] = []
    opened: set[UUID] = set()
    for event in events:
        state = states.get(event.lead_id, LeadState())
        if state.erased:
            skipped.append(Skipped(event.lead_id, "lead was erased; not routing it"))
        elif state.has_open_assignment or event.lead_id in opened:
            skipped.append(Skipped(event.lead_id, "lead already has an open assignment; "
                                                  "not routing it again"))
        else:
            opened.add(event.lead_id)
            routing.append(event)
    return routing, skipped


def lead_copy(event: LeadQualified) -> dict[str, Any]:
    """Handoff's copy of a qualified lead (what the rep queue shows and reassignment reads)."""
    return {
        "lead_id": event.lead_id, "email": event.profile.email,
        "first_name": event.profile.first_name, "last_name": event.profile.last_name,
        "company": event.profile.company, "score": event.score, "grade": event.grade,
        "qualified_at": event.qualified_at,
        "context": event.model_dump(mode="json", exclude={"lead_id"}),
    }


@dataclass
class RoutingPlan:
    """What a batch writes: lead copies, hand-offs, the pools' new credits, and the
    created → handed off times to observe."""

    lead_copies: list[dict[str, Any]] = field(default_factory=list)
    handoffs: list[HandOff] = field(default_factory=list)
    cursors: dict[str, RoundRobinCursor] = field(default_factory=dict)
    speed_to_lead_s: list[float] = field(default_factory=list)


def plan_routing(leads: Sequence[tuple[LeadQualified, LeadFacts]],
                 states: Mapping[UUID, LeadState], tables: RoutingTables,
                 loads: Mapping[UUID, int], cursors: Mapping[str, RoundRobinCursor],
                 now: datetime, settings: HandoffSettings,
                 customers: Mapping[UUID, CustomerContext] | None = None) -> RoutingPlan:
    """Route each lead in turn; every choice counts against the rep's load and moves the
    pool's credits before the next lead is routed."""
    held = RepLoads(loads)
    credits = dict(cursors)
    plan = RoutingPlan()
    for lead, facts in leads:
        choice = decide(tables, facts, now, settings, held, credits,
                        customer=(customers or {}).get(lead.lead_id))
        if choice.rep is not None:
            held.add(choice.rep.id)
        if choice.pool is not None and choice.cursor is not None:
            credits[choice.pool] = plan.cursors[choice.pool] = choice.cursor
        plan.lead_copies.append(lead_copy(lead))
        plan.handoffs.append(handed_off(lead, choice, now))
        created_at = lead.lead_created_at or states.get(lead.lead_id, LeadState()).created_at
        if created_at is not None:
            plan.speed_to_lead_s.append(max((now - created_at).total_seconds(), 0.0))
    return plan
