"""Handoff's use cases: manage reps, route qualified leads, record what sales does with them."""

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from handoff.assignments import domain, repository
from handoff.assignments.domain import AssignmentState, AssignmentStatus
from handoff.config import HandoffSettings
from handoff.customers import repository as customer_repository
from handoff.customers.domain import CustomerContext, customer_context, with_customer_facts
from handoff.exceptions import (
    AlreadyHeld,
    AssigneeNotAllowed,
    AssignmentNotFound,
    DuplicateRepEmail,
    InvalidManager,
    LeadNotQualified,
    RepNotFound,
    RoutingConflict,
)
from handoff.reps.schemas import RepIn, RepPatch
from handoff.routing import assign, intake, metrics
from handoff.routing import repository as routing_repository
from handoff.routing.reference import routing_tables
from handoff.sales.access import Viewer
from handoff.webhooks import outbound
from leadloop.accounts import account_domain
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    Actor,
    LeadAccepted,
    LeadContacted,
    LeadQualified,
    LeadRejected,
    RejectionReason,
    event_time_now,
)

log = logging.getLogger(__name__)


async def _check_manager(uow: UnitOfWork, rep_id: UUID, manager_id: UUID | None) -> None:
    if manager_id is None:
        return
    if manager_id == rep_id:
        raise InvalidManager("a rep cannot be its own manager")
    if await repository.get_rep(uow.connection, manager_id) is None:
        raise InvalidManager("no rep with this id")


# --- reps ----------------------------------------------------------------------------------


async def create_rep(uow: UnitOfWork, rep_in: RepIn) -> Any:
    """Add a rep; raises DuplicateRepEmail when its email is taken."""
    rep_id = uuid.uuid4()
    await _check_manager(uow, rep_id, rep_in.manager_id)
    if not await repository.insert_rep(uow.connection, {"id": rep_id, **rep_in.columns()}):
        raise DuplicateRepEmail
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
    customers = await customer_contexts(uow, {e.lead_id: e.profile.email for e in routing})
    leads = [(event, with_customer_facts(assign.facts_of(event), customers[event.lead_id]))
             for event in routing]
    cursors = await routing_repository.lock_pools(
        uow, [assign.pool_of(tables, facts, settings.default_team) for _lead, facts in leads])
    loads = await routing_repository.rep_loads(uow, list(dict.fromkeys(
        rep_id for lead, facts in leads
        for rep_id in assign.reps_involved(tables, facts, settings.default_team,
                                           customers[lead.lead_id]))))
    plan = intake.plan_routing(leads, states, tables, loads, cursors, event_time_now(),
                               settings, customers)
    await routing_repository.save_leads(uow, plan.lead_copies)
    inserted = await assign.store_handoffs(uow, plan.handoffs, plan.cursors)
    if len(inserted) != len(plan.handoffs):
        raise RoutingConflict(f"{len(plan.handoffs) - len(inserted)} lead(s) got an open "
                              "assignment meanwhile")
    uow.after_commit(lambda: _observe_speed_to_lead(plan.speed_to_lead_s))


async def customer_contexts(uow: UnitOfWork, emails: Mapping[UUID, str | None]
                            ) -> dict[UUID, CustomerContext]:
    """Each lead's standing (stage, account, owner): two or three statements for any batch."""
    stages = await customer_repository.stages_of(uow, list(emails))
    domains = {d for email in emails.values() if (d := account_domain(email)) is not None}
    accounts = await customer_repository.accounts_of(uow, domains)
    return {lead_id: customer_context(email, stages.get(lead_id), accounts)
            for lead_id, email in emails.items()}


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


async def _visible_state(uow: UnitOfWork, assignment_id: UUID, viewer: Viewer
                         ) -> tuple[Any, AssignmentState]:
    """The locked assignment, if the caller may act on it (else NotYourLead)."""
    row, state = await _locked_state(uow, assignment_id)
    viewer.check(row.rep_id, row.team)
    return row, state


def _actor(viewer: Viewer) -> Actor:
    return Actor(name=viewer.actor, rep_id=viewer.rep_id)


async def accept_assignment(uow: UnitOfWork, assignment_id: UUID, viewer: Viewer) -> Any:
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
    return await repository.get_assignment(uow.connection, assignment_id)


async def reject_assignment(uow: UnitOfWork, assignment_id: UUID, reason_code: RejectionReason,
                            note: str | None, viewer: Viewer) -> Any:
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
    return await repository.get_assignment(uow.connection, assignment_id)


async def record_contact(uow: UnitOfWork, assignment_id: UUID, channel: str | None,
                         viewer: Viewer) -> Any:
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
    return await repository.get_assignment(uow.connection, assignment_id)


async def convert_assignment(uow: UnitOfWork, assignment_id: UUID,
                             opportunity_ref: str | None, viewer: Viewer) -> Any:
    """The accepted lead became an opportunity; the assignment closes (and frees capacity).
    Outcomes learns of the deal through POST /v1/deals (deal.opened)."""
    _row, state = await _visible_state(uow, assignment_id, viewer)
    now = event_time_now()
    transition = domain.convert(state, now)
    if transition.changed:
        await repository.update_assignment(uow.connection, assignment_id, {
            **_columns(transition.state), "converted_at": now,
            "opportunity_ref": opportunity_ref})
    return await repository.get_assignment(uow.connection, assignment_id)


# --- manual assignment -----------------------------------------------------------------------

MANUAL_RULE = "manual"


async def assign_manually(uow: UnitOfWork, lead_id: UUID, rep_id: UUID, reason: str,
                          viewer: Viewer, settings: HandoffSettings) -> Any:
    """A manager hands a lead to a rep: from the fallback queue, from another rep, or again
    after it closed. The open assignment (if any) closes as `reassigned`; the new one gets the
    usual SLA timers and a lead.handed_off with routing_rule 'manual' and the manager's reason,
    like every other hand-off. Capacity is not checked: the manager decides."""
    viewer.check_manager()
    conn = uow.connection
    await repository.lock_lead(conn, lead_id)  # the queue drain and the SLA timer wait
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
    return await repository.get_assignment(conn, handoff.assignment.id)


# --- erasure -------------------------------------------------------------------------------


async def erase_lead(uow: UnitOfWork, lead_id: UUID, erased_at: datetime) -> None:
    """Forget the lead and its assignments; a late lead.qualified will not bring it back."""
    await repository.lock_lead(uow.connection, lead_id)
    await repository.erase_lead(uow.connection, lead_id, erased_at)
