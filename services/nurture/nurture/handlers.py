"""Nurture's event handler and the HANDLERS registry. Handlers never commit: the runner does.

One handler takes every event nurture consumes, so a consumed batch is one batch of changes
whatever its mix of types: each event becomes a change about one lead (leads/changes.py), and
leads.service.apply loads, decides and writes them together, each lead's in order.
"""

from typing import Any, TypeAlias

from leadloop.db import UnitOfWork
from leadloop.events.models import (
    DealClosed,
    DealOpened,
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
from nurture.leads import service
from nurture.leads.changes import (
    ENGAGEMENT_KINDS,
    REPLY_KIND,
    ConsentChanged,
    Created,
    DealEnded,
    Engaged,
    Erased,
    Exited,
    LeadChange,
    ProfileUpdated,
    Rejected,
    Scored,
)
from nurture.sequences.domain import ExitReason

NurtureEvent: TypeAlias = (
    LeadCreated | LeadUpdated | LeadConsentChanged | LeadScored | LeadActivity | LeadQualified
    | LeadHandedOff | LeadDisqualified | LeadMerged | LeadRejected | DealOpened | DealClosed
    | LeadErased)
"""Every event nurture consumes."""

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


def change_of(event: NurtureEvent) -> LeadChange | None:
    """What an event changes in nurture; None when nothing (another consent purpose, an
    activity kind no branch watches)."""
    match event:
        case LeadCreated():
            return Created(event.lead_id, event.created_at, event.profile.model_dump(),
                           event.consent.email_marketing,
                           _attributes(event.profile, event.source, event.form_id))
        case LeadUpdated():
            return ProfileUpdated(event.lead_id, event.profile.model_dump(),
                                  event.consent.email_marketing, _attributes(event.profile),
                                  event.updated_at)
        case LeadConsentChanged():
            if event.purpose != "email_marketing":
                return None
            return ConsentChanged(event.lead_id, event.granted, event.changed_at)
        case LeadScored():
            return Scored(event.lead_id, event.score, event.scored_at)
        case LeadActivity():
            # A reply another tool reported stops the sequences that exit on replies; a visit,
            # open or click can decide a waiting branch.
            if event.kind == REPLY_KIND:
                return Exited(event.lead_id, ExitReason.replied, event.occurred_at)
            if event.kind not in ENGAGEMENT_KINDS:
                return None
            return Engaged(event.lead_id, event.activity_id, event.kind, event.occurred_at,
                           event.url)
        case LeadQualified():  # an MQL belongs to sales now
            return Exited(event.lead_id, ExitReason.qualified, event.qualified_at)
        case LeadHandedOff():  # a lead a rep holds gets no marketing mail
            rep = None if event.rep is None else event.rep.model_dump(
                mode="json", include={"name", "email", "team"})
            return Exited(event.lead_id, ExitReason.handed_off, event.handed_off_at, rep)
        case LeadDisqualified():
            return Exited(event.lead_id, ExitReason.disqualified, event.disqualified_at)
        case LeadMerged():  # one person, one sequence: the duplicate's stop
            return Exited(event.merged_lead_id, ExitReason.merged, event.merged_at)
        case LeadRejected():  # remember why, and start the recycle sequences
            return Rejected(event.lead_id, event.reason_code.value, event.rejected_at)
        case DealOpened():  # a new deal: a customer's onboarding or cross-sell has done its job
            return Exited(event.lead_id, ExitReason.deal_opened, event.opened_at)
        case DealClosed():  # onboarding or re-engagement
            return DealEnded(event.lead_id, event.outcome == "won", event.closed_at)
        case LeadErased():
            return Erased(event.lead_id, event.erased_at)
        case _:  # pragma: no cover - the registry hands this handler only the types above
            return None


HANDLERS = Handlers()
"""Which batch handler applies which event class; the consumer runner dispatches on it."""


@HANDLERS.handles
async def on_lead_events(uow: UnitOfWork, batch: Batch[NurtureEvent]) -> None:
    """Sequences follow the lead through the funnel: new leads enter, leads sales works or
    that close a deal leave (and may enter onboarding, recycle or re-engagement), scores and
    engagement let waiting branches decide, erasure forgets."""
    await service.apply(uow, [change for item in batch
                              if (change := change_of(item.event)) is not None])


# Nurture reads who the lead is from lead.created and lead.updated; a qualification or a
# rejection only moves its sequences. They need no key and no decryption.
HANDLERS.reads_no_personal_data(LeadQualified, LeadRejected)
# Of an activity nurture keeps the page's URL (a branch may look for one); its properties,
# referrer and landing page stay sealed: only the URL is decrypted.
HANDLERS.reads_personal_fields(LeadActivity, "url")
