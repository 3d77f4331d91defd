"""Capture's use cases."""

import uuid
from typing import Literal
from uuid import UUID

from capture import repository
from capture.domain import merge_profiles
from capture.schemas import LeadIn
from leadloop.db import UnitOfWork
from leadloop.events.models import Consent, LeadCreated, LeadProfile, LeadUpdated, event_time_now

CaptureStatus = Literal["created", "updated", "unchanged"]


async def capture_lead(uow: UnitOfWork, lead_in: LeadIn) -> tuple[UUID, CaptureStatus]:
    """Store a lead once per normalized email and publish what changed."""
    now = event_time_now()
    profile = lead_in.profile()
    new_id = uuid.uuid4()
    created = await repository.insert_lead_if_new(
        uow.connection, new_id, profile.email, profile.model_dump(mode="json"),
        lead_in.consent.model_dump(mode="json"), lead_in.source.model_dump(mode="json"),
    )
    if created:
        uow.publish(LeadCreated(lead_id=new_id, profile=profile, consent=lead_in.consent,
                                source=lead_in.source, created_at=now))
        return new_id, "created"

    row = await repository.lock_lead_by_email(uow.connection, profile.email)
    merged, changed = merge_profiles(LeadProfile.model_validate(row.profile), profile)
    consent = Consent.model_validate(row.consent)
    if "consent" in lead_in.model_fields_set and lead_in.consent != consent:
        consent = lead_in.consent
        changed.append("consent")
    if not changed:
        return row.id, "unchanged"
    await repository.update_lead(uow.connection, row.id, merged.model_dump(mode="json"),
                                 consent.model_dump(mode="json"), now)
    uow.publish(LeadUpdated(lead_id=row.id, profile=merged, consent=consent,
                            changed_fields=changed, updated_at=now))
    return row.id, "updated"
