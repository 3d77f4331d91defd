"""Handoff's use cases: manage reps, route qualified leads, record what sales does with them."""

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from handoff.assignments import domain, repository
from handoff.assignments.domain import AssignmentState, AssignmentStatus
from handoff.assignments.repository import AssignmentRecord, AssignmentView
from handoff.config import HandoffSettings
from handoff.exceptions import (
    AlreadyHeld,
    AssigneeNotAllowed,
    AssignmentNotFound,
    LeadNotQualified,
    RoutingConflict,
)
from handoff.routing import assign, metrics
from handoff.routing.reference import routing_tables
from handoff.sales.access import Viewer
from handoff.webhooks import outbound
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    Actor,
    LeadAccepted,
    LeadContacted,
    LeadRejected,
    RejectionReason,
    event_time_now,
)

log = logging.getLogger(__name__)


# --- sales actions -------------------------------------------------------------------------


async def _locked_state(uow: UnitOfWork, assignment_id: UUID
                        ) -> tuple[AssignmentRecord, AssignmentState]:
    row = await repository.lock_assignment(uow.connection, assignment_id)
    if row is None:
        raise AssignmentNotFound
    state = AssignmentState(status=AssignmentStatus(row.status), rep_id=row.rep_id,
                            accepted_at=row.accepted_at, rejected_at=row.rejected_at,
                            contacted_at=row.contacted_at)
    return row, state


async def _view(uow: UnitOfWork, assignment_id: UUID) -> AssignmentView:
    """The assignment as sales sees it, after an action on it (in the same transaction)."""
    view = await repository.get_assignment(uow.connection, assignment_id)
    if view is None:
        raise AssignmentNotFound
    return view


def _columns(state: AssignmentState) -> dict[str, Any]:
    return {"status": state.status.value, "accepted_at": state.accepted_at,
            "rejected_at": state.rejected_at, "contacted_at": state.contacted_at}


async def _visible_state(uow: UnitOfWork, assignment_id: UUID, viewer: Viewer
                         ) -> tuple[AssignmentRecord, AssignmentState]:
    """The locked assignment, if the caller may act on it (else NotYourLead)."""
    row, state = await _locked_state(uow, assignment_id)
    viewer.check(row.rep_id, row.team)
    return row, state


def _actor(viewer: Viewer) -> Actor:
    return Actor(name=viewer.actor, rep_id=viewer.rep_id)


async def accept_assignment(uow: UnitOfWork, assignment_id: UUID, viewer: Viewer) -> AssignmentView:
    """The rep accepts the lead; raises TransitionNotAllowed when it cannot."""
    row, state = await _visible_state(uow, assignment_id, viewer)
    now = event_time_now()
    transition = domain.accept(state, now)
    if transition.changed:
        await repository.update_assignment(uow.connection, assignment_id,
                                           {**_columns(transition.state),
                                            "accepted_by": viewer.actor})
        await outbound.publish(uow, LeadAccepted(lead_id=row.lead_id, assignment_id=assignment_id,
                                 rep_id=row.rep_id, accepted_at=now, by=_actor(viewer)))
    return await _view(uow, assignment_id)


async def reject_assignment(uow: UnitOfWork, assignment_id: UUID, reason_code: RejectionReason,
                            note: str | None, viewer: Viewer) -> AssignmentView:
    """The rep rejects the lead, which closes the assignment (nurture recycles the lead)."""
    row, state = await _visible_state(uow, assignment_id, viewer)
    now = event_time_now()
    transition = domain.reject(state, now)
    await repository.update_assignment(uow.connection, assignment_id, {
        **_columns(transition.state), "rejection_reason": reason_code.value,
        "rejection_note": note, "rejected_by": viewer.actor})
    await outbound.publish(uow, LeadRejected(lead_id=row.lead_id, assignment_id=assignment_id,
                             rep_id=row.rep_id, reason_code=reason_code, note=note,
                             rejected_at=now, by=_actor(viewer)))
    return await _view(uow, assignment_id)


async def record_contact(uow: UnitOfWork, assignment_id: UUID, channel: str | None,
                         viewer: Viewer) -> AssignmentView:
    """The rep touched the lead; only the first touch is recorded and published."""
    row, state = await _visible_state(uow, assignment_id, viewer)
    now = event_time_now()
    transition = domain.record_contact(state, now)
    if transition.changed:
        await repository.update_assignment(uow.connection, assignment_id, {
            **_columns(transition.state), "contact_channel": channel,
            "contacted_by": viewer.actor})
        await outbound.publish(uow, LeadContacted(
            lead_id=row.lead_id, assignment_id=assignment_id, rep_id=row.rep_id,
            channel=channel, contacted_at=now, by=_actor(viewer)))
        metrics.HANDED_OFF_TO_CONTACT.observe(max((now - row.handed_off_at).total_seconds(), 0))
    return await _view(uow, assignment_id)


async def convert_assignment(uow: UnitOfWork, assignment_id: UUID,
                             opportunity_ref: str | None, viewer: Viewer) -> AssignmentView:
    """The accepted lead became an opportunity; the assignment closes (and frees capacity).
    Outcomes learns of the deal through POST /v1/deals (deal.opened)."""
    _row, state = await _visible_state(uow, assignment_id, viewer)
    now = event_time_now()
    transition = domain.convert(state, now)
    if transition.changed:
        await repository.update_assignment(uow.connection, assignment_id, {
            **_columns(transition.state), "converted_at": now,
            "opportunity_ref": opportunity_ref})
    return await _view(uow, assignment_id)


# --- manual assignment -----------------------------------------------------------------------

MANUAL_RULE = "manual"


async def assign_manually(uow: UnitOfWork, lead_id: UUID, rep_id: UUID, reason: str,
                          viewer: Viewer, settings: HandoffSettings) -> AssignmentView:
    """A manager hands a lead to a rep: from the fallback queue, from another rep, or again
    after it closed. The open assignment (if any) closes as `reassigned`; the new one gets the
    usual SLA timers and a lead.handed_off with routing_rule 'manual' and the manager's reason,
    like every other hand-off. Capacity is not checked: the manager decides."""
    viewer.check_manager()
    conn = uow.connection
    await repository.lock_lead(conn, lead_id)  # the queue drain waits, an SLA breach retries
    lead = await repository.qualified_lead(conn, lead_id)
    if lead is None:
        raise LeadNotQualified("handoff has no such lead: it never qualified or was erased")
    tables = await routing_tables(conn)
    rep = tables.rep(rep_id)
    if rep is None:
        raise AssigneeNotAllowed("no rep with this id")
    if not rep.profile.active:
        raise AssigneeNotAllowed("this rep is inactive; activate it first")
    if not viewer.may_assign_to(rep.id, rep.team):
        raise AssigneeNotAllowed("you may assign only to reps of your team or reporting to you")
    current = await repository.current_assignment_of(conn, lead_id)
    is_open = current is not None and AssignmentStatus(current.status) in domain.OPEN_STATUSES
    if current is not None and is_open:
        viewer.check(current.rep_id, current.team)
        if current.rep_id == rep.id:
            raise AlreadyHeld("this rep already holds the lead")
        locked = await repository.lock_assignment(conn, current.id)  # a sales action waits
        if locked is not None and AssignmentStatus(locked.status) in domain.OPEN_STATUSES:
            await repository.update_assignment(conn, current.id,
                                               {"status": AssignmentStatus.reassigned.value})
    now = event_time_now()
    choice = assign.Choice(rep, rep.team, MANUAL_RULE, f"assigned by {viewer.actor}: {reason}",
                           settings.accept_sla)
    handoff = assign.handed_off(lead, choice, now,
                                breaches=current.breaches if current is not None else 0)
    handoff = replace(handoff, event=handoff.event.model_copy(
        update={"assigned_by": Actor(name=viewer.actor, rep_id=viewer.rep_id)}))
    if not await assign.store_handoffs(uow, [handoff], {}):
        raise RoutingConflict("the lead got an open assignment meanwhile")
    await repository.update_assignment(conn, handoff.assignment.id,
                                       {"assigned_by": viewer.actor})
    return await _view(uow, handoff.assignment.id)


# --- erasure -------------------------------------------------------------------------------


async def erase_lead(uow: UnitOfWork, lead_id: UUID, erased_at: datetime) -> None:
    """Forget the lead and its assignments; a late lead.qualified will not bring it back."""
    await repository.lock_lead(uow.connection, lead_id)
    await repository.erase_lead(uow.connection, lead_id, erased_at)
