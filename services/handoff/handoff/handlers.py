"""Handoff's event handlers and the HANDLERS registry. Handlers never commit: the runner does."""

from handoff import service
from handoff.config import get_settings
from leadloop.consumer import Handler
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent
from leadloop.events.models import LeadErased, LeadQualified


async def on_lead_qualified(uow: UnitOfWork, event: LeadQualified, envelope: CloudEvent) -> None:
    """A new MQL goes to the next available rep of the routing team, or the fallback queue."""
    settings = get_settings()
    await service.route_qualified_lead(uow, event, team=settings.default_team,
                                       accept_sla=settings.accept_sla)


async def on_lead_erased(uow: UnitOfWork, event: LeadErased, envelope: CloudEvent) -> None:
    """Forget the lead."""
    await service.erase_lead(uow, event.lead_id, event.erased_at)


HANDLERS: dict[str, Handler] = {
    "leadloop.lead.qualified.v1": on_lead_qualified,
    "leadloop.lead.erased.v1": on_lead_erased,
}
