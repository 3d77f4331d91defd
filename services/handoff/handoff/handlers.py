"""Handoff's event handlers and the HANDLERS registry. Handlers never commit: the runner does."""

from handoff.assignments import repository, service
from handoff.config import HandoffSettings
from handoff.customers import service as customers_service
from handoff.customers.service import FORM_SUBMITTED
from handoff.routing import service as routing_service
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    CONSENT_PURPOSES,
    LeadActivity,
    LeadConsentChanged,
    LeadErased,
    LeadExpansionQualified,
    LeadQualified,
    LeadStageChanged,
)
from leadloop.handlers import Batch, Handlers

HANDLERS = Handlers()
"""Which batch handler applies which event class; the consumer runner dispatches on it."""


def _settings() -> HandoffSettings:
    return HANDLERS.settings(HandoffSettings)  # the app's, bound by create_service_app


@HANDLERS.handles
async def on_lead_qualified(uow: UnitOfWork, batch: Batch[LeadQualified]) -> None:
    """New MQLs go to their named-account owner or their rule's team, or the fallback queue."""
    await routing_service.route_qualified_leads(uow, batch.events, _settings())


@HANDLERS.handles
async def on_lead_erased(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
    """Forget the leads (rare: one at a time)."""
    for event in batch.events:
        await service.erase_lead(uow, event.lead_id, event.erased_at)


@HANDLERS.handles
async def on_lead_consent_changed(uow: UnitOfWork, batch: Batch[LeadConsentChanged]) -> None:
    """Keep the consent of the leads handoff holds as capture announces it, so a reassigned
    lead's lead.handed_off tells sales what the person agreed to now (rare: one at a time)."""
    for event in batch.events:
        if event.purpose in CONSENT_PURPOSES:
            await repository.set_consent(uow.connection, event.lead_id, event.purpose,
                                         event.granted)


@HANDLERS.handles_where(lambda data: data.get("kind") == FORM_SUBMITTED)
async def on_lead_activity(uow: UnitOfWork, batch: Batch[LeadActivity]) -> None:
    """An existing customer's new form submission goes to its owner (existing_customer)."""
    await customers_service.route_customer_interest(uow, batch.events, _settings())


@HANDLERS.handles
async def on_stage_changed(uow: UnitOfWork, batch: Batch[LeadStageChanged]) -> None:
    """Keep each lead's lifecycle stage; a won deal makes its rep the customer's owner and
    closes the lead's open assignment."""
    await customers_service.record_stage_changes(uow, batch.events)


@HANDLERS.handles
async def on_expansion_qualified(uow: UnitOfWork, batch: Batch[LeadExpansionQualified]) -> None:
    """A customer ready to buy again (its expansion score crossed the threshold) goes to its
    owner (existing_customer), as its new form submissions do."""
    await customers_service.route_expansion(uow, batch.events, _settings())
