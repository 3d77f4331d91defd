"""GET /v1/leads: find leads for people and page through them for CRM sync jobs.

Leads come in (updated_at, id) order with the shared cursor envelope (leadloop.pagination): a
sync job asks for `updated_since=<its last run>` and follows `next_cursor` to the end; a lead
changed while it pages moves behind the cursor and comes again on a later page or run, never
lost. `email` is an exact (normalized) lookup that follows a merge to the surviving lead.

Owner and qualification state are not capture's facts (handoff and scoring own them): capture
keeps a small projection of them from their events (capture.sales.domain), rather than asking the
outcomes read model, which keeps no names, emails or companies (so it could not do the text
search), and a search split across two services could not page with one cursor. A change of
owner or qualification does not change the lead's `updated_at` (that is its profile's).
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy import ColumnElement, and_, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.leads import repository
from capture.leads.domain import normalize_email
from capture.leads.schemas import LeadOut
from capture.sales.domain import Qualification
from capture.tables import lead_sales_states, leads
from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import Page, cursor_query, decode_cursor, limit_query, page_of

router = APIRouter(prefix="/v1", tags=["leads"])
_TEXT_FIELDS = ("first_name", "last_name", "company")


def _invalid(field: str, reason: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", field), "msg": reason,
                                    "type": "value_error"}])


def _contains(text: str) -> ColumnElement[bool]:
    """Name, email or company contains `text` (case-insensitive, wildcards taken literally)."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    fields = [leads.c.profile[f].astext for f in _TEXT_FIELDS]
    full_name = leads.c.profile["first_name"].astext.concat(" ").concat(
        leads.c.profile["last_name"].astext)
    return or_(leads.c.email.ilike(pattern), full_name.ilike(pattern),
               *(f.ilike(pattern) for f in fields))


def _sales_state(owner: UUID | None,
                 qualification: Qualification | None) -> ColumnElement[bool]:
    """The lead's owner and qualification (as scoring and handoff last announced them) match."""
    state = select(lead_sales_states.c.lead_id).where(lead_sales_states.c.lead_id == leads.c.id)
    if owner is not None:
        state = state.where(lead_sales_states.c.owner_rep_id == owner)
    if qualification is not None:
        state = state.where(lead_sales_states.c.qualification == qualification.value)
    return state.exists()


def _after(cursor: str | None) -> tuple[datetime, UUID] | None:
    if cursor is None:
        return None
    updated_at, lead_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(updated_at), UUID(lead_id)
    except (TypeError, ValueError):
        raise _invalid("cursor", "not a cursor this API returned") from None


async def _search(conn: AsyncConnection, where: list[ColumnElement[bool]],
                  after: tuple[datetime, UUID] | None, limit: int) -> list[Any]:
    statement = select(leads).where(*where).order_by(leads.c.updated_at, leads.c.id) \
        .limit(limit + 1)
    if after is not None:
        statement = statement.where(tuple_(leads.c.updated_at, leads.c.id) > tuple_(
            literal(after[0]), literal(after[1])))
    return list(await conn.execute(statement))


def _out(row: Any) -> LeadOut:
    return LeadOut(lead_id=row.id, profile=row.profile, consent=row.consent, source=row.source,
                   merged_into=row.merged_into)


@router.get("/leads", response_model=Page[LeadOut],
            dependencies=[Depends(require_scope("leads:read"))])
async def search_leads(
    email: str | None = Query(default=None, max_length=320,
                              description="exact address (normalized); follows merges"),
    q: str | None = Query(default=None, min_length=2, max_length=200,
                          description="text in the name, email or company"),
    source: str | None = Query(default=None, max_length=100,
                               description="the channel: form, import, api, tracking, ..."),
    campaign: str | None = Query(default=None, max_length=200,
                                 description="source campaign or utm_campaign"),
    country: str | None = Query(default=None, pattern="^[A-Za-z]{2}$"),
    owner: UUID | None = Query(default=None, description="the rep holding the lead (its id)"),
    qualification: Qualification | None = Query(
        default=None, description="mql: scoring qualified it; sql: a rep accepted it; "
        "rejected: sales sent it back; disqualified: a disqualifier matched"),
    updated_since: datetime | None = Query(default=None, description="changed at or after"),
    created_from: datetime | None = Query(default=None, description="created at or after"),
    created_to: datetime | None = Query(default=None, description="created before"),
    limit: int = limit_query(), cursor: str | None = cursor_query(),
    uow: UnitOfWork = Depends(unit_of_work),
) -> Page[LeadOut]:
    """Leads matching every filter given, least recently updated first, a page at a time."""
    if email is not None:
        return await _by_email(email, uow)
    for name, value in (("updated_since", updated_since), ("created_from", created_from),
                        ("created_to", created_to)):
        if value is not None and value.tzinfo is None:
            raise _invalid(name, "needs a time zone, e.g. 2026-11-23T09:00:00Z")
    if created_from and created_to and created_to <= created_from:
        raise _invalid("created_to", "must be after created_from")
    where: list[ColumnElement[bool]] = [leads.c.merged_into.is_(None)]
    if q is not None:
        where.append(_contains(q.strip()))
    if source is not None:
        where.append(leads.c.source["channel"].astext == source)
    if campaign is not None:
        where.append(or_(leads.c.source["campaign"].astext == campaign,
                         leads.c.source["utm_campaign"].astext == campaign))
    if country is not None:
        where.append(leads.c.profile["country"].astext == country.upper())
    if owner is not None or qualification is not None:
        where.append(_sales_state(owner, qualification))
    if updated_since is not None:
        where.append(leads.c.updated_at >= updated_since)
    if created_from is not None:
        where.append(leads.c.created_at >= created_from)
    if created_to is not None:
        where.append(leads.c.created_at < created_to)
    async with uow:
        rows = await _search(uow.connection, [and_(*where)], _after(cursor), limit)
    kept, next_cursor = page_of(rows, limit,
                                lambda r: [r.updated_at.isoformat(), str(r.id)])
    return Page[LeadOut](items=[_out(r) for r in kept], next_cursor=next_cursor)


async def _by_email(email: str, uow: UnitOfWork) -> Page[LeadOut]:
    """The lead with this email (a merged one's survivor): a page of zero or one."""
    try:
        normalized = normalize_email(email)
    except ValueError as exc:
        raise _invalid("email", str(exc)) from exc
    async with uow:
        row = await repository.get_lead_by_email(uow.connection, normalized)
        if row is not None and row.merged_into is not None:
            row = await repository.get_lead(uow.connection, row.merged_into)
    return Page[LeadOut](items=[] if row is None else [_out(row)], next_cursor=None)



