"""Handoff's use cases: manage reps, route qualified leads, record what sales does with them."""

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from handoff import assign, domain, intake, metrics, outbound, repository, routing_repository
from handoff.config import HandoffSettings
from handoff.domain import AssignmentState, AssignmentStatus
from handoff.rep_schemas import RepIn, RepPatch
from handoff.routing_tables import routing_tables
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


class RoutingConflict(Exception):
    """A lead got an open assignment from elsewhere while this batch routed it; the batch
    rolls back and is applied again (and then finds the assignment)."""


async def route_qualified_leads(uow: UnitOfWork, events: Sequence[LeadQualified],
                                settings: HandoffSettings) -> None:
    """Assign newly qualified leads (named-account owner, else the first matching rule's team
    by weighted round-robin, else the fallback queue) and hand them off with everything the
    rep needs to pitch: a fixed number of statements for the whole batch."""
    lead_ids = list(dict.fromkeys(event.lead_id for event in events))
    # lead.erased and lead.created come on another topic, maybe to another replica: the
    # leads' locks make them wait for each other (repository.lock_lead).
    await routing_repository.lock_leads(uow, lead_ids)
    states = await routing_repository.lead_states(uow, lead_ids)
    routing, skipped = intake.leads_to_route(events, states)
    for skip in skipped:
        log.info("lead %s: %s", skip.lead_id, skip.reason)
    if not routing:
        return
    tables = await routing_tables(uow.connection)
    leads = [(event, assign.facts_of(event)) for event in routing]
    cursors = await routing_repository.lock_pools(
        uow, [assign.pool_of(tables, facts, settings.default_team) for _lead, facts in leads])
    loads = await routing_repository.rep_loads(uow, list(dict.fromkeys(
        rep_id for _lead, facts in leads
        for rep_id in assign.reps_involved(tables, facts, settings.default_team))))
    plan = intake.plan_routing(leads, states, tables, loads, cursors, event_time_now(),
                               settings)
    await routing_repository.save_leads(uow, plan.lead_copies)
    inserted = await assign.store_handoffs(uow, plan.handoffs, plan.cursors)
    if len(inserted) != len(plan.handoffs):
        raise RoutingConflict(f"{len(plan.handoffs) - len(inserted)} lead(s) got an open "
                              "assignment meanwhile")
    uow.after_commit(lambda: _observe_speed_to_lead(plan.speed_to_lead_s))


async def record_arrivals(uow: UnitOfWork, arrivals: Mapping[UUID, datetime]) -> None:
    """Remember when each lead was created (for speed-to-lead). lead.created and
    lead.qualified come on different topics, so handoff may route a lead before it hears
    of its creation (its capture partition lagging): then the hand-off is measured here."""
    await routing_repository.lock_leads(uow, list(arrivals))  # one handler measures, not both
    measured = [max((handed_off_at - created_at).total_seconds(), 0.0) for created_at, handed_off_at
                in await routing_repository.record_arrivals(uow, arrivals)
                if handed_off_at is not None]
    uow.after_commit(lambda: _observe_speed_to_lead(measured))


def _observe_speed_to_lead(seconds: list[float]) -> None:
    # After commit only: a batch that rolls back and is retried must not count a lead twice.
    for value in seconds:
        metrics.CREATED_TO_HANDED_OFF.observe(value)


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
