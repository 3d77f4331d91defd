"""Handoff's use cases: manage reps, route qualified leads, record what sales does with them."""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from handoff import domain, repository
from handoff.domain import AssignmentState, AssignmentStatus, RepCandidate, RoundRobinCursor
from handoff.schemas import RepIn, RepPatch
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    LeadAccepted,
    LeadContacted,
    LeadHandedOff,
    LeadQualified,
    LeadRejected,
    RejectionReason,
    RepRef,
    event_time_now,
)

log = logging.getLogger(__name__)


class RepNotFound(Exception):
    """No rep has this id."""


class AssignmentNotFound(Exception):
    """No assignment has this id."""


# --- reps ----------------------------------------------------------------------------------


async def create_rep(uow: UnitOfWork, rep_in: RepIn) -> Any:
    """Add a rep; raises repository.DuplicateRepEmail when its email is taken."""
    rep_id = uuid.uuid4()
    if not await repository.insert_rep(uow.connection, {"id": rep_id, **rep_in.model_dump()}):
        raise repository.DuplicateRepEmail
    return await repository.get_rep(uow.connection, rep_id)


async def update_rep(uow: UnitOfWork, rep_id: UUID, patch: RepPatch) -> Any:
    """Change a rep. Leads it holds stay with it; capacity and activity steer new leads only."""
    changes = patch.changes()
    found = (await repository.update_rep(uow.connection, rep_id, changes) if changes
             else await repository.get_rep(uow.connection, rep_id) is not None)
    if not found:
        raise RepNotFound
    return await repository.get_rep(uow.connection, rep_id)


# --- routing -------------------------------------------------------------------------------


async def route_qualified_lead(uow: UnitOfWork, event: LeadQualified, *, team: str,
                               accept_sla: timedelta) -> None:
    """Assign a newly qualified lead to the team's next available rep (or the fallback queue)
    and hand it off with everything the rep needs to pitch."""
    conn = uow.connection
    await repository.lock_lead(conn, event.lead_id)
    if await repository.is_erased(conn, event.lead_id):
        log.info("lead was erased; not routing it")
        return
    if await repository.has_open_assignment(conn, event.lead_id):
        log.info("lead already has an open assignment; not routing it again")
        return
    await repository.save_lead(conn, _lead_copy(event))
    pool = f"team:{team}"
    decision, rep_row = await _route_in_team(uow, pool, team)

    now = event_time_now()
    deadline = domain.sla_deadline(now, accept_sla)
    assignment_id = uuid.uuid4()
    inserted = await repository.insert_assignment(conn, {
        "id": assignment_id, "lead_id": event.lead_id, "rep_id": decision.rep_id, "team": team,
        "status": (AssignmentStatus.assigned if rep_row else AssignmentStatus.queued).value,
        "routing_rule": decision.rule, "routing_reason": decision.reason,
        "handed_off_at": now, "sla_deadline": deadline,
    })
    if not inserted:  # the unique index has the last word: an open assignment already stands
        return
    await repository.save_cursor(conn, pool, decision.cursor.to_json())
    rep = (RepRef(id=rep_row.id, name=rep_row.name, email=rep_row.email, team=rep_row.team)
           if rep_row else None)
    uow.publish(LeadHandedOff(
        lead_id=event.lead_id, assignment_id=assignment_id, rep=rep,
        routing_rule=decision.rule, routing_reason=decision.reason,
        profile=event.profile, consent=event.consent, score=event.score, grade=event.grade,
        contributions=event.contributions, source=event.source,
        recent_activities=event.recent_activities, qualified_at=event.qualified_at,
        handed_off_at=now, sla_deadline=deadline,
    ))


async def _route_in_team(uow: UnitOfWork, pool: str,
                         team: str) -> tuple[domain.RoutingDecision, Any | None]:
    """The routing decision and the chosen rep's row; the pool's cursor stays locked."""
    cursor = RoundRobinCursor.from_json(await repository.lock_cursor(uow.connection, pool))
    rows = await repository.team_reps(uow.connection, team)
    candidates = [RepCandidate(id=r.id, name=r.name, weight=r.weight, capacity=r.capacity,
                               open_assignments=r.open_assignments, active=r.active)
                  for r in rows]
    decision = domain.route_round_robin(team, candidates, cursor)
    return decision, next((r for r in rows if r.id == decision.rep_id), None)


def _lead_copy(event: LeadQualified) -> dict[str, Any]:
    return {
        "lead_id": event.lead_id, "email": event.profile.email,
        "first_name": event.profile.first_name, "last_name": event.profile.last_name,
        "company": event.profile.company, "score": event.score, "grade": event.grade,
        "qualified_at": event.qualified_at,
        "context": event.model_dump(mode="json", exclude={"lead_id"}),
    }


# --- sales actions -------------------------------------------------------------------------


async def _locked_state(uow: UnitOfWork, assignment_id: UUID) -> tuple[Any, AssignmentState]:
    row = await repository.lock_assignment(uow.connection, assignment_id)
    if row is None:
        raise AssignmentNotFound
    state = AssignmentState(status=AssignmentStatus(row.status), rep_id=row.rep_id,
                            accepted_at=row.accepted_at, rejected_at=row.rejected_at,
                            contacted_at=row.contacted_at)
    return row, state


def _columns(state: AssignmentState) -> dict[str, Any]:
    return {"status": state.status.value, "accepted_at": state.accepted_at,
            "rejected_at": state.rejected_at, "contacted_at": state.contacted_at}


async def accept_assignment(uow: UnitOfWork, assignment_id: UUID) -> Any:
    """The rep accepts the lead; raises domain.TransitionNotAllowed when it cannot."""
    row, state = await _locked_state(uow, assignment_id)
    now = event_time_now()
    transition = domain.accept(state, now)
    if transition.changed:
        await repository.update_assignment(uow.connection, assignment_id,
                                           _columns(transition.state))
        uow.publish(LeadAccepted(lead_id=row.lead_id, assignment_id=assignment_id,
                                 rep_id=row.rep_id, accepted_at=now))
    return await repository.get_assignment(uow.connection, assignment_id)


async def reject_assignment(uow: UnitOfWork, assignment_id: UUID, reason_code: RejectionReason,
                            note: str | None) -> Any:
    """The rep rejects the lead, which closes the assignment (nurture recycles the lead)."""
    row, state = await _locked_state(uow, assignment_id)
    now = event_time_now()
    transition = domain.reject(state, now)
    await repository.update_assignment(uow.connection, assignment_id, {
        **_columns(transition.state), "rejection_reason": reason_code.value,
        "rejection_note": note})
    uow.publish(LeadRejected(lead_id=row.lead_id, assignment_id=assignment_id,
                             rep_id=row.rep_id, reason_code=reason_code, note=note,
                             rejected_at=now))
    return await repository.get_assignment(uow.connection, assignment_id)


async def record_contact(uow: UnitOfWork, assignment_id: UUID, channel: str | None) -> Any:
    """The rep touched the lead; only the first touch is recorded and published."""
    row, state = await _locked_state(uow, assignment_id)
    now = event_time_now()
    transition = domain.record_contact(state, now)
    if transition.changed:
        await repository.update_assignment(uow.connection, assignment_id, {
            **_columns(transition.state), "contact_channel": channel})
        uow.publish(LeadContacted(lead_id=row.lead_id, assignment_id=assignment_id,
                                  rep_id=row.rep_id, channel=channel, contacted_at=now))
    return await repository.get_assignment(uow.connection, assignment_id)


# --- erasure -------------------------------------------------------------------------------


async def erase_lead(uow: UnitOfWork, lead_id: UUID, erased_at: datetime) -> None:
    """Forget the lead and its assignments; a late lead.qualified will not bring it back."""
    await repository.lock_lead(uow.connection, lead_id)
    await repository.erase_lead(uow.connection, lead_id, erased_at)
