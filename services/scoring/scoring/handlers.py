"""Scoring's event handlers and the HANDLERS registry the consumer runner dispatches on.

Handlers never commit: the runner commits their effects together with the processed-event
record, then the Kafka offset. Every use case is in `leads/service.py`.
"""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from leadloop.db import UnitOfWork
from leadloop.events.models import (
    DealClosed,
    EventData,
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

E = TypeVar("E", bound=EventData)


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


async def _one_at_a_time(uow: UnitOfWork, batch: Batch[E],
                         use_case: Callable[[UnitOfWork, E, str], Awaitable[None]]) -> None:
    """Rarer event types apply one event at a time, in order: each locks its lead first."""
    for item in batch:
        await use_case(uow, item.event, item.envelope.id)


@HANDLERS.handles
async def on_lead_consent_changed(uow: UnitOfWork, batch: Batch[LeadConsentChanged]) -> None:
    """Consent to a purpose given or withdrawn: do-not-contact can disqualify the lead."""
    await _one_at_a_time(uow, batch, service.record_consent_change)


@HANDLERS.handles
async def on_lead_merged(uow: UnitOfWork, batch: Batch[LeadMerged]) -> None:
    """A duplicate was merged into a lead: score the survivor with both histories."""
    await _one_at_a_time(uow, batch, service.record_merge)


@HANDLERS.handles
async def on_lead_unmerged(uow: UnitOfWork, batch: Batch[LeadUnmerged]) -> None:
    """A merge was undone: both leads are scored on their own again."""
    await _one_at_a_time(uow, batch, service.record_unmerge)


@HANDLERS.handles
async def on_lead_rejected(uow: UnitOfWork, batch: Batch[LeadRejected]) -> None:
    """Sales rejected the lead: it may qualify again later."""
    await _one_at_a_time(uow, batch, service.record_rejection)


@HANDLERS.handles
async def on_deal_closed(uow: UnitOfWork, batch: Batch[DealClosed]) -> None:
    """A won or lost deal: keep it as training data."""
    await _one_at_a_time(uow, batch, service.record_deal_outcome)


@HANDLERS.handles
async def on_lead_erased(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
    """The person asked to be forgotten: delete what scoring holds about them."""
    for item in batch:
        await service.erase_lead(uow, item.event.lead_id, item.event.erased_at)


@HANDLERS.handles
async def on_lead_closed(uow: UnitOfWork, batch: Batch[LeadClosed]) -> None:
    """A lead closed as not converted: keep it as a negative outcome to learn from."""
    await _one_at_a_time(uow, batch, service.record_lead_closed)
