"""Handoff's event handlers and the HANDLERS registry. Handlers never commit: the runner does."""

from handoff import service
from handoff.config import get_settings
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadCreated, LeadErased, LeadQualified
from leadloop.handlers import Batch, Handlers

HANDLERS = Handlers()
"""Which batch handler applies which event class; the consumer runner dispatches on it."""


@HANDLERS.handles
async def on_lead_created(uow: UnitOfWork, batch: Batch[LeadCreated]) -> None:
    """Note when the lead arrived, so speed-to-lead can be measured at hand-off."""
    for item in batch:
        event = item.event
        await service.record_arrival(uow, event.lead_id, event.created_at)


@HANDLERS.handles
async def on_lead_qualified(uow: UnitOfWork, batch: Batch[LeadQualified]) -> None:
    """A new MQL goes to its named-account owner or its rule's team, or the fallback queue."""
    for item in batch:
        event = item.event
        await service.route_qualified_lead(uow, event, get_settings())


@HANDLERS.handles
async def on_lead_erased(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
    """Forget the lead."""
    for item in batch:
        event = item.event
        await service.erase_lead(uow, event.lead_id, event.erased_at)

