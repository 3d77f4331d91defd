"""Capture's use cases."""

import uuid
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import orjson

from capture import batch_repository, repository
from capture.batch_repository import from_jsonb
from capture.capture_plan import Captured, LeadWrite, StoredLead, plan_captures
from capture.domain import consent_changes, merge_lead
from capture.lead_keys import issue_keys
from capture.schemas import LeadIn
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    Consent,
    LeadConsentChanged,
    LeadCreated,
    LeadProfile,
    LeadUpdated,
    event_time_now,
)
from leadloop.events.topology import KEY_OWNER

CaptureStatus = Literal["created", "updated", "unchanged"]


async def capture_lead(uow: UnitOfWork, lead_in: LeadIn,
                       form_id: str | None = None) -> tuple[UUID, CaptureStatus]:
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
                                source=lead_in.source, form_id=form_id, created_at=now))
        publish_consent_changes(uow, new_id, None, lead_in.consent, now)
        return new_id, "created"

    row = await repository.lock_lead_by_email(uow.connection, profile.email)
    if row.merged_into is not None:  # a merged duplicate's email resolves to its survivor
        row = (await repository.lock_leads_by_id(uow.connection, [row.merged_into]))[0]
        profile = profile.model_copy(update={"email": row.email})
    given = lead_in.consent if "consent" in lead_in.model_fields_set else None
    merged, consent, changed = merge_lead(LeadProfile.model_validate(row.profile),
                                          Consent.model_validate(row.consent), profile, given)
    if not changed:
        return row.id, "unchanged"
    await repository.update_lead(uow.connection, row.id, merged.model_dump(mode="json"),
                                 consent.model_dump(mode="json"), now)
    uow.publish(LeadUpdated(lead_id=row.id, profile=merged, consent=consent,
                            changed_fields=changed, updated_at=now))
    publish_consent_changes(uow, row.id, Consent.model_validate(row.consent), consent, now)
    return row.id, "updated"


def publish_consent_changes(uow: UnitOfWork, lead_id: UUID, before: Consent | None,
                            after: Consent, now: datetime) -> None:
    """One lead.consent_changed per purpose whose consent changed."""
    for purpose, granted in consent_changes(before, after):
        uow.publish(LeadConsentChanged(
            lead_id=lead_id, purpose=purpose, granted=granted, lawful_basis=after.lawful_basis,
            text=after.text, version=after.version, source=after.source, changed_at=now))


async def capture_leads(uow: UnitOfWork, writes: list[LeadWrite]) -> list[Captured]:
    """Store a batch of leads, once per normalized email, as if captured one by one in order:
    one insert, one locking read (and one for merge survivors), one update. The caller
    publishes each request's events (`Captured.events`)."""
    if not writes:
        return []
    db = await uow.driver()
    first: dict[str, LeadWrite] = {}
    for write in writes:
        first.setdefault(write.profile.email, write)
    inserted = await batch_repository.insert_new_leads(db, [
        (w.new_id, email, _json(w.profile.model_dump(mode="json")),
         _json(w.lead.consent.model_dump(mode="json")),
         _json(w.lead.source.model_dump(mode="json"))) for email, w in first.items()])
    await issue_keys(db, [str(lead_id) for lead_id in inserted], KEY_OWNER)
    known = [email for email, w in first.items() if w.new_id not in inserted]
    by_email = {row.email: row for row in map(_stored, await batch_repository
                                              .lock_leads_by_email(db, known))}
    survivors = sorted({r.merged_into for r in by_email.values() if r.merged_into})
    by_id = {row.id: row for row in map(_stored, await batch_repository
                                        .lock_leads_by_id(db, survivors))}
    now = event_time_now()
    plan = plan_captures(writes, inserted, by_email, by_id, now)
    await batch_repository.update_leads(db, [
        (lead.id, _json(lead.profile.model_dump(mode="json")),
         _json(lead.consent.model_dump(mode="json")), now) for lead in plan.updated.values()])
    return plan.captured


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _stored(row: Any) -> StoredLead:
    return StoredLead(id=row["id"], email=row["email"],
                      profile=LeadProfile.model_validate(from_jsonb(row["profile"])),
                      consent=Consent.model_validate(from_jsonb(row["consent"])),
                      merged_into=row["merged_into"])
