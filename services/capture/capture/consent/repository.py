"""Queries of double opt-in: confirmation requests queued, claimed for mailing, confirmed."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.consent.domain import ConfirmationRequest
from capture.leads.repository import to_json
from leadloop.events.models import Consent

_REQUEST = """
INSERT INTO consent_confirmations
  (id, lead_id, form_id, submission_id, consent, expires_at, next_attempt_at)
SELECT v.id, v.lead_id, v.form_id, v.submission_id, v.consent, now() + $6 * interval '1 hour',
       now()
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::jsonb[])
  AS v(id, lead_id, form_id, submission_id, consent)
WHERE NOT EXISTS (SELECT 1 FROM consent_confirmations c
                  WHERE c.lead_id = v.lead_id AND c.confirmed_at IS NULL
                    AND c.created_at > now() - $7 * interval '1 hour')"""

_CLAIM_DUE = text("""
SELECT c.id, c.consent, c.expires_at, c.attempts, l.email
FROM consent_confirmations c JOIN leads l ON l.id = c.lead_id
WHERE c.next_attempt_at <= now() ORDER BY c.next_attempt_at LIMIT 20
FOR UPDATE OF c SKIP LOCKED""")
_SENT = text("UPDATE consent_confirmations SET sent_at = now(), next_attempt_at = NULL, "
             "attempts = attempts + 1, last_error = NULL WHERE id = :id")
_FAILED = text("UPDATE consent_confirmations SET next_attempt_at = :next, "
               "attempts = attempts + 1, last_error = :error WHERE id = :id")
_CLAIM_CONFIRMATION = text("SELECT lead_id, consent, confirmed_at FROM consent_confirmations "
                           "WHERE id = :id FOR UPDATE")
_CONFIRMED = text("UPDATE consent_confirmations SET confirmed_at = :now WHERE id = :id")


@dataclass(frozen=True)
class DueMail:
    """A confirmation whose mail is due: where it goes and what it asks to confirm."""

    id: UUID
    email: str
    consent: Consent
    expires_at: datetime
    attempts: int


@dataclass(frozen=True)
class Confirmation:
    """A confirmation as its link finds it: `consent` holds only the fields the form set
    (those replace the stored ones when confirmed)."""

    lead_id: UUID
    consent: dict[str, Any]
    confirmed_at: datetime | None


async def insert_requests(db: asyncpg.Connection, requests: Sequence[ConfirmationRequest],
                          ttl_hours: float, every_hours: float) -> None:
    """Queue confirmation requests (one statement); none for a lead with one sent within
    `every_hours` still waiting."""
    if not requests:
        return
    # Only what the form set: on confirmation these fields replace the stored ones.
    await db.execute(_REQUEST, [uuid.uuid4() for _ in requests], [r.lead_id for r in requests],
                     [r.form_id for r in requests], [r.submission_id for r in requests],
                     [to_json(r.consent.model_dump(mode="json", exclude_unset=True))
                      for r in requests], ttl_hours, every_hours)


async def claim_due(conn: AsyncConnection) -> list[DueMail]:
    """Up to 20 due mails, locked for this transaction (other replicas skip them)."""
    return [DueMail(row.id, row.email, Consent.model_validate(row.consent), row.expires_at,
                    row.attempts) for row in await conn.execute(_CLAIM_DUE)]


async def mark_sent(conn: AsyncConnection, confirmation_id: UUID) -> None:
    """The mail went out."""
    await conn.execute(_SENT, {"id": confirmation_id})


async def mark_failed(conn: AsyncConnection, confirmation_id: UUID, error: str,
                      retry_at: datetime | None) -> None:
    """The mail did not go out: try again at `retry_at`, or never (None)."""
    await conn.execute(_FAILED, {"id": confirmation_id, "error": error, "next": retry_at})


async def lock_confirmation(conn: AsyncConnection, confirmation_id: UUID
                            ) -> Confirmation | None:
    """A confirmation, locked, or None (never requested, or the person was erased)."""
    row = (await conn.execute(_CLAIM_CONFIRMATION, {"id": confirmation_id})).one_or_none()
    return None if row is None else Confirmation(row.lead_id, row.consent, row.confirmed_at)


async def mark_confirmed(conn: AsyncConnection, confirmation_id: UUID, now: datetime) -> None:
    """The person confirmed."""
    await conn.execute(_CONFIRMED, {"id": confirmation_id, "now": now})
