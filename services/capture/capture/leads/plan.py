"""Pure decisions of a batch of captured leads: what each request gets, what is written, what is
published. The same outcome as applying the requests one at a time, in order."""

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal
from uuid import UUID

from capture.leads.domain import consent_changes, consent_to_confirm, fill_profile, merge_lead
from capture.leads.validation import LeadIn
from leadloop.events.models import (
    Consent,
    EventData,
    LeadConsentChanged,
    LeadCreated,
    LeadProfile,
    LeadUpdated,
)

CaptureStatus = Literal["created", "updated", "unchanged"]


@dataclass
class LeadWrite:
    """A validated lead, ready to be written (everything a request decides without the
    database); `new_id` is its id if its email turns out to be new."""

    lead: LeadIn
    profile: LeadProfile
    form_id: str | None = None
    new_id: UUID = field(default_factory=uuid.uuid4)
    # Sent with a form's public key (anyone on the internet): for a known address it only
    # fills empty fields, and its consent waits for the person's confirmation.
    public: bool = False

    @classmethod
    def of(cls, lead: LeadIn, form_id: str | None = None, public: bool = False) -> "LeadWrite":
        """The write a validated lead asks for."""
        return cls(lead=lead, profile=lead.profile(), form_id=form_id, public=public)

    @property
    def consent_given(self) -> Consent | None:
        """The consent the submitter sent, None when they sent none."""
        return self.lead.consent if "consent" in self.lead.model_fields_set else None


@dataclass(frozen=True)
class StoredLead:
    """A lead's row as the batch sees it."""

    id: UUID
    email: str
    profile: LeadProfile
    consent: Consent
    merged_into: UUID | None = None


@dataclass(frozen=True)
class Captured:
    """What one request got, and the events it causes (in order)."""

    lead_id: UUID
    status: CaptureStatus
    events: list[EventData]
    key: bytes | None = None  # the lead's data key, when this batch issued it
    # A public form's consent for a known address: mailed to the person to confirm.
    to_confirm: Consent | None = None


@dataclass
class CapturePlan:
    """A batch's outcome per request and the final state of every lead it changed."""

    captured: list[Captured]
    updated: dict[UUID, StoredLead]


def plan_captures(writes: list[LeadWrite], inserted: set[UUID],
                  by_email: dict[str, StoredLead], by_id: dict[UUID, StoredLead],
                  now: datetime) -> CapturePlan:
    """Each write in order: created when its `new_id` went in, else merged into the lead its
    email names (or that lead's survivor); `by_email`/`by_id` are the locked stored rows."""
    current: dict[UUID, StoredLead] = {}  # leads as earlier writes of this batch left them
    email_owner: dict[str, UUID] = {}  # emails this batch created
    updated: dict[UUID, StoredLead] = {}
    captured: list[Captured] = []
    for write in writes:
        email = write.profile.email
        if write.new_id in inserted:
            lead = StoredLead(write.new_id, email, write.profile, write.lead.consent)
            current[lead.id] = lead
            email_owner[email] = lead.id
            captured.append(Captured(lead.id, "created", [
                LeadCreated(lead_id=lead.id, profile=write.profile, consent=write.lead.consent,
                            source=write.lead.source, form_id=write.form_id, created_at=now),
                *consent_events(lead.id, None, write.lead.consent, now)]))
            continue
        owner = email_owner.get(email)
        row = current[owner] if owner is not None else by_email[email]
        profile = write.profile
        if row.merged_into is not None:  # a merged duplicate's email resolves to its survivor
            row = current.get(row.merged_into) or by_id[row.merged_into]
            profile = profile.model_copy(update={"email": row.email})
        row = current.get(row.id, row)
        to_confirm = None
        if write.public:
            merged, changed = fill_profile(row.profile, profile)
            consent = row.consent
            to_confirm = consent_to_confirm(row.consent, write.consent_given)
        else:
            merged, consent, changed = merge_lead(row.profile, row.consent, profile,
                                                  write.consent_given)
        if not changed:
            captured.append(Captured(row.id, "unchanged", [], to_confirm=to_confirm))
            continue
        after = replace(row, profile=merged, consent=consent)
        current[row.id] = updated[row.id] = after
        captured.append(Captured(row.id, "updated", [
            LeadUpdated(lead_id=row.id, profile=merged, consent=consent,
                        changed_fields=changed, updated_at=now),
            *consent_events(row.id, row.consent, consent, now)], to_confirm=to_confirm))
    return CapturePlan(captured, updated)


def consent_events(lead_id: UUID, before: Consent | None, after: Consent, now: datetime
                   ) -> list[EventData]:
    """One lead.consent_changed per purpose whose consent changed."""
    return [LeadConsentChanged(
        lead_id=lead_id, purpose=purpose, granted=granted, lawful_basis=after.lawful_basis,
        text=after.text, version=after.version, source=after.source, changed_at=now)
        for purpose, granted in consent_changes(before, after)]
