"""Outcomes' event handlers and the HANDLERS registry. Handlers never commit: the runner does.

Outcomes consumes every topic; the funnel is built only from these events, including its own
deal events, so it reads the same whether a deal came over HTTP or is replayed.
"""

from typing import TypeAlias

from leadloop.consumer import Handler
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent
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
from outcomes import service

FunnelEvent: TypeAlias = (
    LeadCreated | LeadQualified | LeadHandedOff | LeadAccepted | DealOpened | DealClosed
    | LeadScored | LeadContacted | LeadActivity | LeadUpdated
)


async def on_funnel_event(uow: UnitOfWork, event: FunnelEvent, envelope: CloudEvent) -> None:
    """Fold the event into the read model: stages reached, score, rep, first contact, touches,
    market attributes (country, region, company-size band, industry, properties)."""
    await service.record_funnel_event(uow, event, event.lead_id)


async def on_lead_rejected(uow: UnitOfWork, event: LeadRejected, envelope: CloudEvent) -> None:
    """Sales rejected the lead: keep when and why, for the rejection report."""
    await service.record_rejection(uow, event.lead_id, event.reason_code.value,
                                   event.rejected_at)


async def on_lead_erased(uow: UnitOfWork, event: LeadErased, envelope: CloudEvent) -> None:
    """Anonymize the lead: counts stay, nothing points back at the person."""
    await service.erase_lead(uow, event.lead_id)


HANDLERS: dict[str, Handler] = {
    "leadloop.lead.created.v1": on_funnel_event,
    "leadloop.lead.updated.v1": on_funnel_event,
    "leadloop.lead.qualified.v1": on_funnel_event,
    "leadloop.lead.handed_off.v1": on_funnel_event,
    "leadloop.lead.accepted.v1": on_funnel_event,
    "leadloop.deal.opened.v1": on_funnel_event,
    "leadloop.deal.closed.v1": on_funnel_event,
    "leadloop.lead.scored.v1": on_funnel_event,
    "leadloop.lead.contacted.v1": on_funnel_event,
    "leadloop.lead.activity.v1": on_funnel_event,
    "leadloop.lead.rejected.v1": on_lead_rejected,
    "leadloop.lead.erased.v1": on_lead_erased,
}
