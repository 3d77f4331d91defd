"""Outcomes' event handlers and the HANDLERS registry. Handlers never commit: the runner does.

Outcomes consumes every topic; the funnel is built only from these events, including its own
deal events, so it reads the same whether a deal came over HTTP or is replayed.
"""

from typing import TypeAlias

from leadloop.db import UnitOfWork
from leadloop.events.models import (
    DealClosed,
    DealOpened,
    LeadAccepted,
    LeadActivity,
    LeadContacted,
    LeadCreated,
    LeadErased,
    LeadHandedOff,
    LeadQualified,
    LeadRejected,
    LeadScored,
    LeadUpdated,
)
from leadloop.handlers import Batch, Handlers
from outcomes import service

FunnelEvent: TypeAlias = (
    LeadCreated | LeadQualified | LeadHandedOff | LeadAccepted | DealOpened | DealClosed
    | LeadScored | LeadContacted | LeadActivity | LeadUpdated
)


HANDLERS = Handlers()
"""Which batch handler applies which event class; the consumer runner dispatches on it."""


@HANDLERS.handles
async def on_funnel_event(uow: UnitOfWork, batch: Batch[FunnelEvent]) -> None:
    """Fold the event into the read model: stages reached, score, rep, first contact, touches,
    market attributes (country, region, company-size band, industry, properties)."""
    for item in batch:
        event = item.event
        await service.record_funnel_event(uow, event, event.lead_id)


@HANDLERS.handles
async def on_lead_rejected(uow: UnitOfWork, batch: Batch[LeadRejected]) -> None:
    """Sales rejected the lead: keep when and why, for the rejection report."""
    for item in batch:
        event = item.event
        await service.record_rejection(uow, event.lead_id, event.reason_code.value,
                                       event.rejected_at)


@HANDLERS.handles
async def on_lead_erased(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
    """Anonymize the lead: counts stay, nothing points back at the person."""
    for item in batch:
        event = item.event
        await service.erase_lead(uow, event.lead_id)

