"""Capture's use cases."""

from dataclasses import replace
from typing import Any

import orjson

from capture.leads.plan import Captured, LeadWrite, StoredLead, plan_captures
from capture.writes import repository as batch_repository
from capture.writes.repository import from_jsonb
from leadloop.db import UnitOfWork
from leadloop.events.models import Consent, LeadProfile, event_time_now
from leadloop.events.topology import KEY_OWNER
from leadloop.keyring import issue_keys


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
    keys = await issue_keys(db, [str(lead_id) for lead_id in inserted], KEY_OWNER)
    known = [email for email, w in first.items() if w.new_id not in inserted]
    by_email = {row.email: row for row in map(stored_lead, await batch_repository
                                              .lock_leads_by_email(db, known))}
    survivors = sorted({r.merged_into for r in by_email.values() if r.merged_into})
    by_id = {row.id: row for row in map(stored_lead, await batch_repository
                                        .lock_leads_by_id(db, survivors))}
    now = event_time_now()
    plan = plan_captures(writes, inserted, by_email, by_id, now)
    await batch_repository.update_leads(db, [
        (lead.id, _json(lead.profile.model_dump(mode="json")),
         _json(lead.consent.model_dump(mode="json")), now) for lead in plan.updated.values()])
    return [replace(c, key=keys.get(str(c.lead_id))) for c in plan.captured]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def stored_lead(row: Any) -> StoredLead:
    """A locked leads row as the capture plan sees it."""
    return StoredLead(id=row["id"], email=row["email"],
                      profile=LeadProfile.model_validate(from_jsonb(row["profile"])),
                      consent=Consent.model_validate(from_jsonb(row["consent"])),
                      merged_into=row["merged_into"])
