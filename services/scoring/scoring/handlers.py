"""Scoring's event handlers and the HANDLERS registry the consumer runner dispatches on.

Handlers never commit: the runner commits their effects together with the processed-event
record, then the Kafka offset.
"""

from leadloop.db import UnitOfWork
from leadloop.events.models import (
    DealClosed,
    LeadActivity,
    LeadClosed,
    LeadConsentChanged,
    LeadCreated,
    LeadErased,
    LeadMerged,
    LeadRejected,
    LeadUnmerged,
    LeadUpdated,
)
from leadloop.handlers import Batch, Handlers, Item
from scoring.leads import service
from scoring.leads.batch import LeadInput, ProfileSeen, activity_seen

HANDLERS = Handlers()
"""Which batch handler applies which event class; the consumer runner dispatches on it."""


@HANDLERS.handles
async def on_lead_events(uow: UnitOfWork,
                         batch: Batch[LeadCreated | LeadUpdated | LeadActivity]) -> None:
    """New leads, changed profiles and activities, every lead's events: keep them and rescore,
    the whole batch at once (one handler, so a lead's created and activities share a step)."""
    await service.apply_lead_events(uow, [lead_input(item) for item in batch])


def lead_input(item: Item[LeadCreated | LeadUpdated | LeadActivity]) -> LeadInput:
    """What the hot path applies for one consumed event."""
    event, event_id = item.event, item.envelope.id
    if isinstance(event, LeadActivity):
        return activity_seen(event, event_id)
    if isinstance(event, LeadCreated):
        return ProfileSeen(event.lead_id, event.profile, event.consent, event.created_at,
                           event_id, event.source, item.envelope.type)
    return ProfileSeen(event.lead_id, event.profile, event.consent, event.updated_at, event_id,
                       event_type=item.envelope.type)


@HANDLERS.handles
async def on_lead_consent_changed(uow: UnitOfWork, batch: Batch[LeadConsentChanged]) -> None:
    """Consent to a purpose given or withdrawn: do-not-contact can disqualify the lead."""
    for item in batch:
        event = item.event
        envelope = item.envelope
        await service.record_consent_change(uow, event, envelope.id)


@HANDLERS.handles
async def on_lead_merged(uow: UnitOfWork, batch: Batch[LeadMerged]) -> None:
    """A duplicate was merged into a lead: score the survivor with both histories."""
    for item in batch:
        event = item.event
        envelope = item.envelope
        await service.record_merge(uow, event, envelope.id)


@HANDLERS.handles
async def on_lead_unmerged(uow: UnitOfWork, batch: Batch[LeadUnmerged]) -> None:
    """A merge was undone: both leads are scored on their own again."""
    for item in batch:
        event = item.event
        envelope = item.envelope
        await service.record_unmerge(uow, event, envelope.id)


@HANDLERS.handles
async def on_lead_rejected(uow: UnitOfWork, batch: Batch[LeadRejected]) -> None:
    """Sales rejected the lead: it may qualify again later."""
    for item in batch:
        event = item.event
        envelope = item.envelope
        await service.record_rejection(uow, event, envelope.id)


@HANDLERS.handles
async def on_deal_closed(uow: UnitOfWork, batch: Batch[DealClosed]) -> None:
    """A won or lost deal: keep it as training data."""
    for item in batch:
        event = item.event
        envelope = item.envelope
        await service.record_deal_outcome(uow, event, envelope.id)


@HANDLERS.handles
async def on_lead_erased(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
    """The person asked to be forgotten: delete what scoring holds about them."""
    for item in batch:
        event = item.event
        await service.erase_lead(uow, event.lead_id, event.erased_at)



@HANDLERS.handles
async def on_lead_closed(uow: UnitOfWork, batch: Batch[LeadClosed]) -> None:
    """A lead closed as not converted: keep it as a negative outcome to learn from."""
    for item in batch:
        await service.record_lead_closed(uow, item.event, item.envelope.id)
