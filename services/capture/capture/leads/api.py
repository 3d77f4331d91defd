"""Lead routes: capture one lead (POST /v1/leads), read one, and find leads.

GET /v1/leads finds leads for people and pages through them for CRM sync jobs. Leads come in
(updated_at, id) order with the shared cursor envelope (leadloop.pagination): a sync job asks
for `updated_since=<its last run>` and follows `next_cursor` to the end; a lead changed while
it pages moves behind the cursor and comes again on a later page or run, never lost. `email` is
an exact (normalized) lookup that follows a merge to the surviving lead.

Owner and qualification state are not capture's facts (handoff and scoring own them): capture
keeps a small projection of them from their events (capture.sales), rather than asking the
outcomes read model, which keeps no names, emails or companies (so it could not do the text
search), and a search split across two services could not page with one cursor. A change of
owner or qualification does not change the lead's `updated_at` (that is its profile's).
"""

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from capture.idempotency import service as idempotency
from capture.idempotency.service import Claim
from capture.leads import repository
from capture.leads.domain import normalize_email
from capture.leads.plan import LeadWrite
from capture.leads.repository import LeadRecord, LeadSearch
from capture.leads.schemas import LeadAccepted, LeadOut
from capture.leads.service import LeadRequest
from capture.leads.validation import LeadIn
from capture.sales.domain import Qualification
from capture.writes.writers import writers
from leadloop.app import Runtime, get_runtime, unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.observability import current_traceparent
from leadloop.pagination import Page, cursor_query, limit_query, page_of, parse_cursor
from leadloop.problems import invalid_query

router = APIRouter(prefix="/v1", tags=["leads"])


@router.post(
    "/leads",
    response_model=LeadAccepted,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_scope("leads:write"))],
    responses={200: {"model": LeadAccepted, "description": "Known email: lead merged"}},
)
async def post_lead(lead: LeadIn, request: Request,
                    runtime: Runtime = Depends(get_runtime)) -> Response:
    """Capture one lead. A known email (after normalization) updates that lead instead."""
    # A refused Idempotency-Key (capture.exceptions.InputInvalid) is the app's 422.
    key = idempotency.idempotency_key(request)
    claim = None if key is None else Claim(
        "leads", key, idempotency.request_fingerprint(request, await request.body()))
    # Written together with the other requests arriving now (capture.writes.group_commit).
    return await writers(runtime).leads.submit(LeadRequest(
        LeadWrite.of(lead), claim, current_traceparent()))


def _out(lead: LeadRecord) -> LeadOut:
    return LeadOut(lead_id=lead.id, profile=lead.profile, consent=lead.consent,
                   source=lead.source, merged_into=lead.merged_into)


@router.get("/leads/{lead_id}", response_model=LeadOut,
            dependencies=[Depends(require_scope("leads:read"))])
async def get_lead(lead_id: UUID, uow: UnitOfWork = Depends(unit_of_work)) -> LeadOut:
    """A lead's stored profile, consent and source."""
    async with uow:
        row = await repository.get_lead(uow.connection, lead_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no lead with this id")
    return _out(row)


# The search's sort key, (updated_at, id), as a cursor reads back.
_KEY = (datetime.fromisoformat, UUID)


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
            raise invalid_query(name, "needs a time zone, e.g. 2026-11-23T09:00:00Z")
    if created_from and created_to and created_to <= created_from:
        raise invalid_query("created_to", "must be after created_from")
    search = LeadSearch(q=q.strip() if q is not None else None, source=source,
                        campaign=campaign, country=country.upper() if country else None,
                        owner=owner, qualification=qualification.value if qualification else None,
                        updated_since=updated_since, created_from=created_from,
                        created_to=created_to)
    after = parse_cursor(cursor, _KEY)
    async with uow:
        rows = await repository.search_leads(uow.connection, search, after, limit)
    kept, next_cursor = page_of(rows, limit,
                                lambda r: [r.updated_at.isoformat(), str(r.id)])
    return Page[LeadOut](items=[_out(r) for r in kept], next_cursor=next_cursor)


async def _by_email(email: str, uow: UnitOfWork) -> Page[LeadOut]:
    """The lead with this email (a merged one's survivor): a page of zero or one."""
    try:
        normalized = normalize_email(email)
    except ValueError as exc:
        raise invalid_query("email", str(exc)) from exc
    async with uow:
        row = await repository.get_lead_by_email(uow.connection, normalized)
        if row is not None and row.merged_into is not None:
            row = await repository.get_lead(uow.connection, row.merged_into)
    return Page[LeadOut](items=[] if row is None else [_out(row)], next_cursor=None)
