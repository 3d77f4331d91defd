"""Scoring's event handlers and the HANDLERS registry the consumer runner dispatches on.

Handlers never commit: the runner commits their effects together with the processed-event
record, then the Kafka offset.
"""

from leadloop.consumer import Handler
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent
from leadloop.events.models import (
    DealClosed,
    LeadActivity,
    LeadConsentChanged,
    LeadCreated,
    LeadErased,
    LeadMerged,
    LeadRejected,
    LeadUnmerged,
    LeadUpdated,
)
from scoring import service


async def on_lead_created(uow: UnitOfWork, event: LeadCreated, envelope: CloudEvent) -> None:
    """A new lead: keep its profile, consent and source, and score it."""
    await service.record_profile(uow, event.lead_id, event.profile, event.consent,
                                 event.created_at, envelope.id, source=event.source)


async def on_lead_updated(uow: UnitOfWork, event: LeadUpdated, envelope: CloudEvent) -> None:
    """A changed profile or consent: keep it and rescore."""
    await service.record_profile(uow, event.lead_id, event.profile, event.consent,
                                 event.updated_at, envelope.id)


async def on_lead_activity(uow: UnitOfWork, event: LeadActivity, envelope: CloudEvent) -> None:
    """Something the lead did (capture's tracking, nurture's opens and clicks): rescore."""
    await service.record_activity(uow, event, envelope.id)


async def on_lead_consent_changed(uow: UnitOfWork, event: LeadConsentChanged,
                                  envelope: CloudEvent) -> None:
    """Consent to a purpose given or withdrawn: do-not-contact can disqualify the lead."""
    await service.record_consent_change(uow, event, envelope.id)


async def on_lead_merged(uow: UnitOfWork, event: LeadMerged, envelope: CloudEvent) -> None:
    """A duplicate was merged into a lead: score the survivor with both histories."""
    await service.record_merge(uow, event, envelope.id)


async def on_lead_unmerged(uow: UnitOfWork, event: LeadUnmerged, envelope: CloudEvent) -> None:
    """A merge was undone: both leads are scored on their own again."""
    await service.record_unmerge(uow, event, envelope.id)


async def on_lead_rejected(uow: UnitOfWork, event: LeadRejected, envelope: CloudEvent) -> None:
    """Sales rejected the lead: it may qualify again later."""
    await service.record_rejection(uow, event, envelope.id)


async def on_deal_closed(uow: UnitOfWork, event: DealClosed, envelope: CloudEvent) -> None:
    """A won or lost deal: keep it as training data."""
    await service.record_deal_outcome(uow, event, envelope.id)


async def on_lead_erased(uow: UnitOfWork, event: LeadErased, envelope: CloudEvent) -> None:
    """The person asked to be forgotten: delete what scoring holds about them."""
    await service.erase_lead(uow, event.lead_id, event.erased_at)


HANDLERS: dict[str, Handler] = {
    "leadloop.lead.created.v1": on_lead_created,
    "leadloop.lead.updated.v1": on_lead_updated,
    "leadloop.lead.activity.v1": on_lead_activity,
    "leadloop.lead.consent_changed.v1": on_lead_consent_changed,
    "leadloop.lead.merged.v1": on_lead_merged,
    "leadloop.lead.unmerged.v1": on_lead_unmerged,
    "leadloop.lead.rejected.v1": on_lead_rejected,
    "leadloop.deal.closed.v1": on_deal_closed,
    "leadloop.lead.erased.v1": on_lead_erased,
}
