"""Queries on leads: set-based statements for batches (SQL text on the transaction's asyncpg
connection, `uow.driver()`: prepared once per connection, arrays unnested server-side, the same
text for any batch size) and the lookups and search of the read routes."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg
import orjson
from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.leads.plan import StoredLead
from capture.tables import lead_sales_states, leads
from leadloop.events.models import Consent, LeadProfile, LeadSource


@dataclass(frozen=True)
class LeadRecord:
    """A lead as the read routes show it."""

    id: UUID
    profile: LeadProfile
    consent: Consent
    source: LeadSource
    merged_into: UUID | None
    updated_at: datetime


def from_jsonb(value: object) -> object:
    """A jsonb value read through the unit of work's connection: SQLAlchemy's codec decodes
    it already; a bare asyncpg connection hands back the JSON text."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def to_json(value: BaseModel | dict[str, Any] | list[Any]) -> str:
    """JSON text for a jsonb parameter of a statement below."""
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return orjson.dumps(data).decode()


def _stored(row: Any) -> StoredLead:
    return StoredLead(id=row["id"], email=row["email"],
                      profile=LeadProfile.model_validate(from_jsonb(row["profile"])),
                      consent=Consent.model_validate(from_jsonb(row["consent"])),
                      merged_into=row["merged_into"])


def _record(row: Any) -> LeadRecord:
    return LeadRecord(id=row.id, profile=LeadProfile.model_validate(row.profile),
                      consent=Consent.model_validate(row.consent),
                      source=LeadSource.model_validate(row.source),
                      merged_into=row.merged_into, updated_at=row.updated_at)


# --- batches -------------------------------------------------------------------------------------

_INSERT_LEADS = """
INSERT INTO leads (id, email, profile, consent, source)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[], $5::jsonb[])
ON CONFLICT (email) DO NOTHING RETURNING id"""

_LOCK_BY_EMAIL = """
SELECT id, email, profile, consent, merged_into FROM leads
WHERE email = ANY($1::text[]) ORDER BY email FOR UPDATE"""

_LOCK_BY_ID = """
SELECT id, email, profile, consent, merged_into FROM leads
WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"""

_UPDATE_LEADS = """
UPDATE leads AS l SET profile = v.profile, consent = v.consent, updated_at = v.updated_at
FROM unnest($1::uuid[], $2::jsonb[], $3::jsonb[], $4::timestamptz[])
  AS v(id, profile, consent, updated_at)
WHERE l.id = v.id"""

_LEADS_BY_EMAIL = "SELECT id, email FROM leads WHERE email = ANY($1::text[])"
_LEADS_BY_ID = "SELECT id FROM leads WHERE id = ANY($1::uuid[])"


class LeadState(Protocol):
    """What an update writes: a lead's id, profile and consent."""

    @property
    def id(self) -> UUID: ...
    @property
    def profile(self) -> LeadProfile: ...
    @property
    def consent(self) -> Consent: ...


@dataclass(frozen=True)
class NewLead:
    """A lead to insert if its email is new."""

    id: UUID
    email: str
    profile: LeadProfile
    consent: Consent
    source: LeadSource


async def insert_new_leads(db: asyncpg.Connection, rows: Sequence[NewLead]) -> set[UUID]:
    """Insert the leads whose email is new (in email order, so two batches never deadlock);
    the ids that went in."""
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda r: r.email)
    inserted = await db.fetch(_INSERT_LEADS, [r.id for r in ordered],
                              [r.email for r in ordered],
                              [to_json(r.profile) for r in ordered],
                              [to_json(r.consent) for r in ordered],
                              [to_json(r.source) for r in ordered])
    return {r["id"] for r in inserted}


async def lock_leads_by_email(db: asyncpg.Connection, emails: Sequence[str]
                              ) -> list[StoredLead]:
    """Stored leads among `emails`, locked in email order (batches never deadlock)."""
    return [_stored(r) for r in await db.fetch(_LOCK_BY_EMAIL, list(emails))] if emails else []


async def lock_leads_by_id(db: asyncpg.Connection, lead_ids: Sequence[UUID]
                           ) -> list[StoredLead]:
    """Leads by id, locked in id order (two merges never deadlock)."""
    return [_stored(r) for r in await db.fetch(_LOCK_BY_ID, list(lead_ids))] if lead_ids else []


async def update_leads(db: asyncpg.Connection, rows: Sequence[LeadState], updated_at: datetime
                       ) -> None:
    """Replace the profile and consent of several leads."""
    if rows:
        await db.execute(_UPDATE_LEADS, [r.id for r in rows], [to_json(r.profile) for r in rows],
                         [to_json(r.consent) for r in rows], [updated_at] * len(rows))


async def lead_ids_by_email(db: asyncpg.Connection, emails: Sequence[str]) -> dict[str, UUID]:
    """Lead id per stored email (merged duplicates included, as a lookup by email is)."""
    if not emails:
        return {}
    return {r["email"]: r["id"] for r in await db.fetch(_LEADS_BY_EMAIL, list(emails))}


async def existing_lead_ids(db: asyncpg.Connection, lead_ids: Sequence[UUID]) -> set[UUID]:
    """Which of these lead ids exist."""
    if not lead_ids:
        return set()
    return {r["id"] for r in await db.fetch(_LEADS_BY_ID, list(lead_ids))}


# --- reads ---------------------------------------------------------------------------------------


async def get_lead(conn: AsyncConnection, lead_id: UUID) -> LeadRecord | None:
    """A lead by id, or None."""
    row = (await conn.execute(select(leads).where(leads.c.id == lead_id))).one_or_none()
    return None if row is None else _record(row)


async def get_lead_by_email(conn: AsyncConnection, email: str) -> LeadRecord | None:
    """A lead by normalized email, or None."""
    row = (await conn.execute(select(leads).where(leads.c.email == email))).one_or_none()
    return None if row is None else _record(row)


@dataclass(frozen=True)
class LeadSearch:
    """Lead search's filters (None: not filtered on); every one given must match."""

    q: str | None = None
    source: str | None = None
    campaign: str | None = None
    country: str | None = None
    owner: UUID | None = None
    qualification: str | None = None
    updated_since: datetime | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


_TEXT_FIELDS = ("first_name", "last_name", "company")


def _contains(text: str) -> ColumnElement[bool]:
    """Name, email or company contains `text` (case-insensitive, wildcards taken literally)."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    fields = [leads.c.profile[f].astext for f in _TEXT_FIELDS]
    full_name = leads.c.profile["first_name"].astext.concat(" ").concat(
        leads.c.profile["last_name"].astext)
    return or_(leads.c.email.ilike(pattern), full_name.ilike(pattern),
               *(f.ilike(pattern) for f in fields))


def _sales_state(owner: UUID | None,
                 qualification: str | None) -> ColumnElement[bool]:
    """The lead's owner and qualification (as scoring and handoff last announced them) match."""
    state = select(lead_sales_states.c.lead_id).where(lead_sales_states.c.lead_id == leads.c.id)
    if owner is not None:
        state = state.where(lead_sales_states.c.owner_rep_id == owner)
    if qualification is not None:
        state = state.where(lead_sales_states.c.qualification == qualification)
    return state.exists()


def _where(search: LeadSearch) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [leads.c.merged_into.is_(None)]
    if search.q is not None:
        where.append(_contains(search.q))
    if search.source is not None:
        where.append(leads.c.source["channel"].astext == search.source)
    if search.campaign is not None:
        where.append(or_(leads.c.source["campaign"].astext == search.campaign,
                         leads.c.source["utm_campaign"].astext == search.campaign))
    if search.country is not None:
        where.append(leads.c.profile["country"].astext == search.country)
    if search.owner is not None or search.qualification is not None:
        where.append(_sales_state(search.owner, search.qualification))
    if search.updated_since is not None:
        where.append(leads.c.updated_at >= search.updated_since)
    if search.created_from is not None:
        where.append(leads.c.created_at >= search.created_from)
    if search.created_to is not None:
        where.append(leads.c.created_at < search.created_to)
    return where


async def search_leads(conn: AsyncConnection, search: LeadSearch,
                       after: Sequence[Any] | None, limit: int) -> list[LeadRecord]:
    """Leads matching the search (merged duplicates left out), in (updated_at, id) order after
    the cursor's (updated_at, id) (limit + 1 rows: the caller cuts the page)."""
    statement = select(leads).where(and_(*_where(search))) \
        .order_by(leads.c.updated_at, leads.c.id).limit(limit + 1)
    if after is not None:
        statement = statement.where(tuple_(leads.c.updated_at, leads.c.id) > tuple_(
            literal(after[0]), literal(after[1])))
    return [_record(row) for row in await conn.execute(statement)]
