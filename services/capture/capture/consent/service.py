"""Changing a stored lead's consent outside a capture request: one way for every cause.

Capture owns consent. Two causes reach it besides forms and the API: a person confirming consent
from the mail a public form triggered (double opt-in, capture.consent.api and .worker), and another
service's withdrawal (nurture's one-click unsubscribe arrives as lead.unsubscribed, see
capture.handlers). Both apply here: the lead is locked, the change merged as a form's would be
(only the fields the change sets), and a change that changes something is stored and announced
with lead.updated and one lead.consent_changed per purpose, which scoring, handoff and nurture
apply to their own copies.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

import asyncpg

from capture.config import CaptureSettings
from capture.consent import repository
from capture.consent.domain import ConfirmationRequest
from capture.leads import repository as leads_repository
from capture.leads.domain import consent_changes, merge_consent
from capture.leads.plan import consent_events
from leadloop.db import UnitOfWork
from leadloop.events.models import Consent, LeadUpdated


@dataclass(frozen=True)
class ConsentChange:
    """A change to one lead's consent: the fields set on `consent` replace the stored ones."""

    lead_id: UUID
    consent: Consent


async def change_consents(uow: UnitOfWork, changes: list[ConsentChange], now: datetime
                          ) -> set[UUID]:
    """Apply the changes in order (a merged duplicate's go to its survivor; unknown or erased
    leads are skipped): one locking read per hop, one update. The leads that changed."""
    if not changes:
        return set()
    db = await uow.driver()
    rows = {r.id: r for r in await leads_repository.lock_leads_by_id(
        db, sorted({c.lead_id for c in changes}))}
    survivors = sorted({r.merged_into for r in rows.values() if r.merged_into} - set(rows))
    rows |= {r.id: r for r in await leads_repository.lock_leads_by_id(db, survivors)}
    before = dict(rows)
    for change in changes:
        row = rows.get(change.lead_id)
        if row is not None and row.merged_into is not None:
            row = rows.get(row.merged_into)
        if row is None:
            continue
        rows[row.id] = replace(row, consent=merge_consent(row.consent, change.consent))
    # Only a change of a purpose counts (an unsubscribe from someone who never consented is
    # no news, and must not rewrite where their consent record came from).
    changed = [row for lead_id, row in rows.items()
               if consent_changes(before[lead_id].consent, row.consent)]
    await leads_repository.update_leads(db, changed, now)
    for row in changed:
        uow.publish(LeadUpdated(lead_id=row.id, profile=row.profile, consent=row.consent,
                                changed_fields=["consent"], updated_at=now))
        for event in consent_events(row.id, before[row.id].consent, row.consent, now):
            uow.publish(event)
    return {row.id for row in changed}


async def request_confirmations(db: asyncpg.Connection, requests: list[ConfirmationRequest],
                                settings: CaptureSettings) -> None:
    """Queue a confirmation mail per lead (one statement; the first request per lead wins, and
    none while one sent recently still waits)."""
    first: dict[UUID, ConfirmationRequest] = {}
    for r in requests:
        first.setdefault(r.lead_id, r)
    await repository.insert_requests(db, list(first.values()),
                                     settings.consent_confirmation_ttl_hours,
                                     settings.consent_confirmation_every_hours)
