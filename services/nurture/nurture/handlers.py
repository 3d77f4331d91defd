"""Nurture's event handlers and the HANDLERS registry. Handlers never commit: the runner does."""

from leadloop.consumer import Handler
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent
from leadloop.events.models import (
    LeadCreated,
    LeadDisqualified,
    LeadErased,
    LeadHandedOff,
    LeadQualified,
    LeadRejected,
)
from nurture import service
from nurture.domain import ExitReason


async def on_lead_created(uow: UnitOfWork, event: LeadCreated, envelope: CloudEvent) -> None:
    """A new lead enters the new-lead sequences unless it is already past marketing."""
    await service.enroll_new_lead(uow, event.lead_id, event.created_at)


async def on_lead_qualified(uow: UnitOfWork, event: LeadQualified, envelope: CloudEvent) -> None:
    """An MQL belongs to sales now: its sequences stop."""
    await service.exit_sequences(uow, event.lead_id, ExitReason.qualified, event.qualified_at)


async def on_lead_handed_off(uow: UnitOfWork, event: LeadHandedOff,
                             envelope: CloudEvent) -> None:
    """A lead a rep holds gets no marketing mail: its sequences stop."""
    await service.exit_sequences(uow, event.lead_id, ExitReason.handed_off, event.handed_off_at)


async def on_lead_disqualified(uow: UnitOfWork, event: LeadDisqualified,
                               envelope: CloudEvent) -> None:
    """A disqualified lead is not nurtured: its sequences stop."""
    await service.exit_sequences(uow, event.lead_id, ExitReason.disqualified,
                                 event.disqualified_at)


async def on_lead_rejected(uow: UnitOfWork, event: LeadRejected, envelope: CloudEvent) -> None:
    """Remember the rejection; the recycle sequence that acts on it comes later."""
    await service.record_rejection(uow, event.lead_id, event.reason_code.value,
                                   event.rejected_at)


async def on_lead_erased(uow: UnitOfWork, event: LeadErased, envelope: CloudEvent) -> None:
    """Forget the lead."""
    await service.erase_lead(uow, event.lead_id, event.erased_at)


HANDLERS: dict[str, Handler] = {
    "leadloop.lead.created.v1": on_lead_created,
    "leadloop.lead.qualified.v1": on_lead_qualified,
    "leadloop.lead.handed_off.v1": on_lead_handed_off,
    "leadloop.lead.disqualified.v1": on_lead_disqualified,
    "leadloop.lead.rejected.v1": on_lead_rejected,
    "leadloop.lead.erased.v1": on_lead_erased,
}
