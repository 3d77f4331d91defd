"""Nurture's event handlers and the HANDLERS registry. Handlers never commit: the runner does."""

from typing import Any

from leadloop.db import UnitOfWork
from leadloop.events.models import (
    DealClosed,
    LeadActivity,
    LeadConsentChanged,
    LeadCreated,
    LeadDisqualified,
    LeadErased,
    LeadHandedOff,
    LeadMerged,
    LeadProfile,
    LeadQualified,
    LeadRejected,
    LeadScored,
    LeadSource,
    LeadUpdated,
)
from leadloop.handlers import Batch, Handlers
from nurture import service
from nurture.domain import ExitReason

_PROFILE_SEGMENT_FIELDS = ("country", "region", "industry", "job_title", "company",
                           "company_size")
_SOURCE_SEGMENT_FIELDS = ("channel", "campaign", "utm_source", "utm_medium", "utm_campaign",
                          "utm_term", "utm_content")


def _attributes(profile: LeadProfile, source: LeadSource | None = None,
                form_id: str | None = None) -> dict[str, Any]:
    """What segments match on: firmographics, custom properties, and where the lead came from."""
    found: dict[str, Any] = {k: v for k, v in profile.properties.items() if v is not None}
    found.update({f: getattr(profile, f) for f in _PROFILE_SEGMENT_FIELDS
                  if getattr(profile, f) is not None})
    if source is not None:
        found.update({f: getattr(source, f) for f in _SOURCE_SEGMENT_FIELDS
                      if getattr(source, f) is not None})
    if form_id is not None:
        found["form_id"] = form_id
    return found


HANDLERS = Handlers()
"""Which batch handler applies which event class; the consumer runner dispatches on it."""


@HANDLERS.handles
async def on_lead_created(uow: UnitOfWork, batch: Batch[LeadCreated]) -> None:
    """A new lead enters the new-lead sequences of its segment unless it is already past
    marketing; nurture keeps the contact details sending needs."""
    for item in batch:
        event = item.event
        await service.enroll_new_lead(
            uow, event.lead_id, event.created_at, profile=event.profile.model_dump(),
            consent=event.consent.email_marketing,
            attributes=_attributes(event.profile, event.source, event.form_id))


@HANDLERS.handles
async def on_lead_updated(uow: UnitOfWork, batch: Batch[LeadUpdated]) -> None:
    """New contact details or consent apply from the next send on."""
    for item in batch:
        event = item.event
        await service.update_profile(uow, event.lead_id, event.profile.model_dump(),
                                     event.consent.email_marketing, _attributes(event.profile),
                                     event.updated_at)


@HANDLERS.handles
async def on_lead_consent_changed(uow: UnitOfWork, batch: Batch[LeadConsentChanged]) -> None:
    """Consent to email marketing given or withdrawn applies from the next send on."""
    for item in batch:
        event = item.event
        if event.purpose == "email_marketing":
            await service.change_consent(uow, event.lead_id, event.granted, event.changed_at)


@HANDLERS.handles
async def on_lead_merged(uow: UnitOfWork, batch: Batch[LeadMerged]) -> None:
    """A duplicate merged into another lead stops its sequences: one person, one sequence."""
    for item in batch:
        event = item.event
        await service.exit_sequences(uow, event.merged_lead_id, ExitReason.merged, event.merged_at)


@HANDLERS.handles
async def on_lead_activity(uow: UnitOfWork, batch: Batch[LeadActivity]) -> None:
    """A page visit (capture's tracking) can decide a waiting branch; a reply another tool
    reported (kind email_replied) stops the sequences that exit on replies."""
    for item in batch:
        event = item.event
        if event.kind == service.REPLY_KIND:
            await service.record_reply(uow, event.lead_id, event.occurred_at, announce=False)
            return
        await service.record_engagement(uow, event.lead_id, event.activity_id, event.kind,
                                        event.url, event.occurred_at)


@HANDLERS.handles
async def on_lead_scored(uow: UnitOfWork, batch: Batch[LeadScored]) -> None:
    """The latest score, for score branches."""
    for item in batch:
        event = item.event
        await service.record_score(uow, event.lead_id, event.score, event.scored_at)


@HANDLERS.handles
async def on_lead_qualified(uow: UnitOfWork, batch: Batch[LeadQualified]) -> None:
    """An MQL belongs to sales now: its sequences stop."""
    for item in batch:
        event = item.event
        await service.exit_sequences(uow, event.lead_id, ExitReason.qualified, event.qualified_at)


@HANDLERS.handles
async def on_lead_handed_off(uow: UnitOfWork, batch: Batch[LeadHandedOff]) -> None:
    """A lead a rep holds gets no marketing mail: its sequences stop."""
    for item in batch:
        event = item.event
        await service.exit_sequences(uow, event.lead_id, ExitReason.handed_off, event.handed_off_at)


@HANDLERS.handles
async def on_lead_disqualified(uow: UnitOfWork, batch: Batch[LeadDisqualified]) -> None:
    """A disqualified lead is not nurtured: its sequences stop."""
    for item in batch:
        event = item.event
        await service.exit_sequences(uow, event.lead_id, ExitReason.disqualified,
                                     event.disqualified_at)


@HANDLERS.handles
async def on_lead_rejected(uow: UnitOfWork, batch: Batch[LeadRejected]) -> None:
    """Sales sent the lead back: remember why, and start the recycle sequences."""
    for item in batch:
        event = item.event
        await service.record_rejection(uow, event.lead_id, event.reason_code.value,
                                       event.rejected_at)


@HANDLERS.handles
async def on_deal_closed(uow: UnitOfWork, batch: Batch[DealClosed]) -> None:
    """A won deal starts onboarding, a lost one re-engagement; both stop what ends on it."""
    for item in batch:
        event = item.event
        await service.deal_closed(uow, event.lead_id, event.outcome == "won", event.closed_at)


@HANDLERS.handles
async def on_lead_erased(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
    """Forget the lead."""
    for item in batch:
        event = item.event
        await service.erase_lead(uow, event.lead_id, event.erased_at)

