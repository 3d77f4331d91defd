"""Handoff's event handlers and the HANDLERS registry. Handlers never commit: the runner does."""

from handoff import service
from handoff.config import get_settings
from leadloop.consumer import Handler
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent
from leadloop.events.models import LeadCreated, LeadErased, LeadQualified


async def on_lead_created(uow: UnitOfWork, event: LeadCreated, envelope: CloudEvent) -> None:
    """Note when the lead arrived, so speed-to-lead can be measured at hand-off."""
    await service.record_arrival(uow, event.lead_id, event.created_at)


async def on_lead_qualified(uow: UnitOfWork, event: LeadQualified, envelope: CloudEvent) -> None:
    """A new MQL goes to its named-account owner or its rule's team, or the fallback queue."""
    await service.route_qualified_lead(uow, event, get_settings())


async def on_lead_erased(uow: UnitOfWork, event: LeadErased, envelope: CloudEvent) -> None:
    """Forget the lead."""
    await service.erase_lead(uow, event.lead_id, event.erased_at)


HANDLERS: dict[str, Handler] = {
    "leadloop.lead.created.v1": on_lead_created,
    "leadloop.lead.qualified.v1": on_lead_qualified,
    "leadloop.lead.erased.v1": on_lead_erased,
}
