"""Handoff's use cases: manage reps, route qualified leads, record what sales does with them."""

import logging
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from handoff import assign, domain, metrics, outbound, repository
from handoff.config import HandoffSettings
from handoff.domain import AssignmentState, AssignmentStatus
from handoff.rep_schemas import RepIn, RepPatch
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    LeadAccepted,
    LeadContacted,
    LeadQualified,
    LeadRejected,
    RejectionReason,
    event_time_now,
)

log = logging.getLogger(__name__)


class RepNotFound(Exception):
    """No rep has this id."""


class AssignmentNotFound(Exception):
    """No assignment has this id."""


class InvalidManager(Exception):
    """The manager named is not a rep (or is the rep itself)."""


async def _check_manager(uow: UnitOfWork, rep_id: UUID, manager_id: UUID | None) -> None:
    if manager_id is None:
        return
    if manager_id == rep_id:
        raise InvalidManager("a rep cannot be its own manager")
    if await repository.get_rep(uow.connection, manager_id) is None:
        raise InvalidManager("no rep with this id")


# --- reps ----------------------------------------------------------------------------------


async def create_rep(uow: UnitOfWork, rep_in: RepIn) -> Any:
    """Add a rep; raises repository.DuplicateRepEmail when its email is taken."""
    rep_id = uuid.uuid4()
    await _check_manager(uow, rep_id, rep_in.manager_id)
    if not await repository.insert_rep(uow.connection, {"id": rep_id, **rep_in.columns()}):
        raise repository.DuplicateRepEmail
    return await repository.get_rep(uow.connection, rep_id)


async def update_rep(uow: UnitOfWork, rep_id: UUID, patch: RepPatch) -> Any:
    """Change a rep. Leads it holds stay with it; capacity and activity steer new leads only."""
    changes = patch.changes()
    await _check_manager(uow, rep_id, changes.get("manager_id"))
    found = (await repository.update_rep(uow.connection, rep_id, changes) if changes
             else await repository.get_rep(uow.connection, rep_id) is not None)
    if not found:
        raise RepNotFound
    return await repository.get_rep(uow.connection, rep_id)


# --- routing -------------------------------------------------------------------------------


async def route_qualified_lead(uow: UnitOfWork, event: LeadQualified,
                               settings: HandoffSettings) -> None:
    """Assign a newly qualified lead (named-account owner, else the first matching rule's team
    by weighted round-robin, else the fallback queue) and hand it off with everything the rep
    needs to pitch."""
    conn = uow.connection
    await repository.lock_lead(conn, event.lead_id)
    if await repository.is_erased(conn, event.lead_id):
        log.info("lead was erased; not routing it")
        return
    if await repository.has_open_assignment(conn, event.lead_id):
        log.info("lead already has an open assignment; not routing it again")
        return
    await repository.save_lead(conn, _lead_copy(event))
    now = event_time_now()
    choice = await assign.choose(conn, assign.facts_of(event), now, settings)
    if await assign.hand_off(uow, event, choice, now) is None:
        return
    created_at = await repository.arrival_of(conn, event.lead_id)
    if created_at is not None:
        metrics.CREATED_TO_HANDED_OFF.observe(max((now - created_at).total_seconds(), 0.0))


async def record_arrival(uow: UnitOfWork, lead_id: UUID, created_at: datetime) -> None:
    """Remember when the lead was created (for speed-to-lead). lead.created and
    lead.qualified come on different topics, so handoff may route the lead before it hears
    of its creation (its capture partition lagging): then the hand-off is measured here."""
    conn = uow.connection
    await repository.lock_lead(conn, lead_id)  # one of the two handlers measures, never both
    if not await repository.record_arrival(conn, lead_id, created_at):
        return
    handed_off_at = await repository.first_handoff_of(conn, lead_id)
    if handed_off_at is not None:
        metrics.CREATED_TO_HANDED_OFF.observe(
            max((handed_off_at - created_at).total_seconds(), 0.0))


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
        await outbound.publish(uow, LeadAccepted(lead_id=row.lead_id, assignment_id=assignment_id,
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
    await outbound.publish(uow, LeadRejected(lead_id=row.lead_id, assignment_id=assignment_id,
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
        await outbound.publish(uow, LeadContacted(
            lead_id=row.lead_id, assignment_id=assignment_id, rep_id=row.rep_id,
            channel=channel, contacted_at=now))
        metrics.HANDED_OFF_TO_CONTACT.observe(max((now - row.handed_off_at).total_seconds(), 0))
    return await repository.get_assignment(uow.connection, assignment_id)


async def convert_assignment(uow: UnitOfWork, assignment_id: UUID,
                             opportunity_ref: str | None) -> Any:
    """The accepted lead became an opportunity; the assignment closes (and frees capacity).
    Outcomes learns of the deal through POST /v1/deals (deal.opened)."""
    _row, state = await _locked_state(uow, assignment_id)
    now = event_time_now()
    transition = domain.convert(state, now)
    if transition.changed:
        await repository.update_assignment(uow.connection, assignment_id, {
            **_columns(transition.state), "converted_at": now,
            "opportunity_ref": opportunity_ref})
    return await repository.get_assignment(uow.connection, assignment_id)


# --- erasure -------------------------------------------------------------------------------


async def erase_lead(uow: UnitOfWork, lead_id: UUID, erased_at: datetime) -> None:
    """Forget the lead and its assignments; a late lead.qualified will not bring it back."""
    await repository.lock_lead(uow.connection, lead_id)
    await repository.erase_lead(uow.connection, lead_id, erased_at)
