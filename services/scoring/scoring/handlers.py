"""Scoring's event handlers and the HANDLERS registry the consumer runner dispatches on.

Handlers never commit: the runner commits their effects together with the processed-event
record, then the Kafka offset. Every use case is in `leads/service.py`.
"""

from typing import assert_never

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


OneAtATime = (LeadConsentChanged | LeadMerged | LeadUnmerged | LeadRejected | DealClosed
              | LeadClosed | LeadErased)
"""The rarer event types: each applies on its own, after locking its lead's row."""


@HANDLERS.handles
async def on_rarer_events(uow: UnitOfWork, batch: Batch[OneAtATime]) -> None:
    """Consent changes, merges, rejections, closed deals and leads, erasures: one event at a
    time, in order."""
    for item in batch:
        await apply_one(uow, item.event, item.envelope.id)


async def apply_one(uow: UnitOfWork, event: OneAtATime, event_id: str) -> None:
    """The use case of one rarer event."""
    match event:
        case LeadConsentChanged():  # do-not-contact can disqualify the lead
            await service.record_consent_change(uow, event, event_id)
        case LeadMerged():  # the survivor is scored with both histories
            await service.record_merge(uow, event, event_id)
        case LeadUnmerged():  # both leads are scored on their own again
            await service.record_unmerge(uow, event, event_id)
        case LeadRejected():  # sales rejected the lead: it may qualify again later
            await service.record_rejection(uow, event, event_id)
        case DealClosed():  # a won or lost deal: kept as training data
            await service.record_deal_outcome(uow, event, event_id)
        case LeadClosed():  # closed as not converted: a negative outcome to learn from
            await service.record_lead_closed(uow, event, event_id)
        case LeadErased():  # the person asked to be forgotten
            await service.erase_lead(uow, event.lead_id, event.erased_at)
        case _:
            assert_never(event)
