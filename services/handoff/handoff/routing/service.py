"""Routing qualified leads in batches: lock, load, plan (pure), store, hand off."""


import logging
from collections.abc import Iterable, Mapping, Sequence
from uuid import UUID

from handoff.config import HandoffSettings
from handoff.customers.domain import CustomerContext, customer_context, with_customer_facts
from handoff.exceptions import (
    RoutingConflict,
)
from handoff.routing import assign, intake, metrics
from handoff.routing import repository as routing_repository
from handoff.routing.reference import routing_tables
from handoff.routing.repository import KnownLeads
from leadloop.accounts import account_domain
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    LeadQualified,
    event_time_now,
)

log = logging.getLogger(__name__)


async def route_qualified_leads(uow: UnitOfWork, events: Sequence[LeadQualified],
                                settings: HandoffSettings) -> None:
    """Assign newly qualified leads (named-account owner, else the first matching rule's team
    by weighted round-robin, else the fallback queue) and hand them off with everything the
    rep needs to pitch: five statements for the whole batch, the outbox's at commit aside."""
    lead_ids = list(dict.fromkeys(event.lead_id for event in events))
    # lead.erased comes on another topic, maybe to another replica: the leads' locks make
    # them wait for each other (repository.lock_lead). Then one read, in a statement of its
    # own so that its snapshot follows the locks.
    await routing_repository.lock_leads(uow, lead_ids)
    known = await routing_repository.known_leads(uow, lead_ids, _domains(
        event.profile.email for event in events))
    routing, skipped = intake.leads_to_route(events, known.states)
    for skip in skipped:
        log.info("lead %s: %s", skip.lead_id, skip.reason)
    if not routing:
        return
    tables = await routing_tables(uow.connection)
    customers = _standing({e.lead_id: e.profile.email for e in routing}, known)
    leads = [(event, with_customer_facts(assign.facts_of(event), customers[event.lead_id]))
             for event in routing]
    # Two statements: the loads must be read after the pools' lock is held (lock_pools).
    cursors = await routing_repository.lock_pools(
        uow, [assign.pool_of(tables, facts, settings.default_team) for _lead, facts in leads])
    loads = await routing_repository.rep_loads(uow, list(dict.fromkeys(
        rep_id for lead, facts in leads
        for rep_id in assign.reps_involved(tables, facts, settings.default_team,
                                           customers[lead.lead_id]))))
    plan = intake.plan_routing(leads, known.states, tables, loads, cursors, event_time_now(),
                               settings, customers)
    inserted = await assign.store_handoffs(uow, plan.handoffs, plan.cursors, plan.lead_copies)
    if len(inserted) != len(plan.handoffs):
        raise RoutingConflict(f"{len(plan.handoffs) - len(inserted)} lead(s) got an open "
                              "assignment meanwhile")
    uow.after_commit(lambda: _observe_speed_to_lead(plan.speed_to_lead_s))


async def customer_contexts(uow: UnitOfWork, emails: Mapping[UUID, str | None]
                            ) -> dict[UUID, CustomerContext]:
    """Each lead's standing (stage, account, owner): one statement for any batch."""
    return _standing(emails, await routing_repository.known_leads(
        uow, list(emails), _domains(emails.values())))


def _domains(emails: Iterable[str | None]) -> set[str]:
    return {domain for email in emails if (domain := account_domain(email)) is not None}


def _standing(emails: Mapping[UUID, str | None], known: KnownLeads
              ) -> dict[UUID, CustomerContext]:
    return {lead_id: customer_context(email, known.stages.get(lead_id), known.accounts)
            for lead_id, email in emails.items()}


def _observe_speed_to_lead(seconds: list[float]) -> None:
    # After commit only: a batch that rolls back and is retried must not count a lead twice.
    for value in seconds:
        metrics.CREATED_TO_HANDED_OFF.observe(value)


