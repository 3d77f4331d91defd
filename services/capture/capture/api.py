"""Capture's HTTP routes."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from capture import activity, forms_repository, idempotency, repository, service
from capture.domain import normalize_email
from capture.schemas import ActivityOut, LeadAccepted, LeadIn, LeadOut
from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork

router = APIRouter(prefix="/v1", tags=["leads"])


def _invalid(field: str, reason: str) -> RequestValidationError:
    """A 422 in the service-wide shape, naming `field` and the reason."""
    return RequestValidationError([{"loc": ("body", field), "msg": reason,
                                    "type": "value_error"}])


@router.post(
    "/leads",
    response_model=LeadAccepted,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_scope("leads:write"))],
    responses={200: {"model": LeadAccepted, "description": "Known email: lead merged"}},
)
async def post_lead(lead: LeadIn, request: Request,
                    uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Capture one lead. A known email (after normalization) updates that lead instead."""
    try:
        key = idempotency.idempotency_key(request)
        async with uow:
            replay = await idempotency.replay_if_seen(
                uow, "leads", key, idempotency.request_fingerprint(request, await request.body()))
            if replay is not None:
                return replay
            return await _capture(uow, lead, key)
    except HTTPException as exc:
        if isinstance(exc.detail, dict):  # idempotency errors carry the 422 body itself
            return JSONResponse(exc.detail, status_code=exc.status_code)
        raise


async def _capture(uow: UnitOfWork, lead: LeadIn, key: str | None) -> Response:
    """Capture inside an open unit of work, remember the answer for the key, commit."""
    lead_id, outcome = await service.capture_lead(uow, lead)
    body = LeadAccepted(lead_id=lead_id, status=outcome).model_dump(mode="json")
    code = status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK
    await idempotency.remember(uow, "leads", key, code, {"kind": "json", "body": body})
    await uow.commit()
    return JSONResponse(body, status_code=code)


@router.get("/leads", response_model=list[LeadOut],
            dependencies=[Depends(require_scope("leads:read"))])
async def find_leads(email: str = Query(max_length=320),
                     uow: UnitOfWork = Depends(unit_of_work)) -> list[LeadOut]:
    """The lead with this email (normalized as on capture), as a list of zero or one."""
    try:
        normalized = normalize_email(email)
    except ValueError as exc:
        raise _invalid("email", str(exc)) from exc
    async with uow:
        row = await repository.get_lead_by_email(uow.connection, normalized)
        if row is not None and row.merged_into is not None:
            row = await repository.get_lead(uow.connection, row.merged_into)
    return [] if row is None else [_out(row)]


def _out(row: Any) -> LeadOut:
    return LeadOut(lead_id=row.id, profile=row.profile, consent=row.consent, source=row.source,
                   merged_into=row.merged_into)


@router.get("/leads/{lead_id}/activities", response_model=list[ActivityOut],
            dependencies=[Depends(require_scope("leads:read"))])
async def lead_timeline(lead_id: UUID, limit: int = Query(100, ge=1, le=1000),
                        uow: UnitOfWork = Depends(unit_of_work)) -> list[ActivityOut]:
    """A lead's activity timeline, newest first."""
    async with uow:
        rows = await forms_repository.lead_activities(uow.connection, lead_id, limit)
    return [ActivityOut(activity_id=r.id, kind=r.kind, occurred_at=r.occurred_at, url=r.url,
                        source=r.source, properties=r.properties) for r in rows]


@router.post("/activities", response_model=activity.ActivityAccepted, status_code=202,
             dependencies=[Depends(require_scope("leads:write"))])
async def post_activity(body: activity.ActivityIn, uow: UnitOfWork = Depends(unit_of_work)
                        ) -> activity.ActivityAccepted:
    """An activity from a server-side source (webinar tool, CMS, email), by lead, email or
    visitor; an anonymous visitor's activity waits until the visitor is identified."""
    async with uow:
        lead_id = body.lead_id
        if lead_id is None and body.email:
            try:
                row = await repository.get_lead_by_email(uow.connection,
                                                         normalize_email(body.email))
            except ValueError as exc:
                raise _invalid("email", str(exc)) from exc
            if row is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no lead with this email")
            lead_id = row.id
        elif lead_id is not None and await repository.get_lead(uow.connection, lead_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no lead with this id")
        accepted = await activity.record_activity(uow, body, lead_id)
        await uow.commit()
    return accepted


@router.get("/leads/{lead_id}", response_model=LeadOut,
            dependencies=[Depends(require_scope("leads:read"))])
async def get_lead(lead_id: UUID, uow: UnitOfWork = Depends(unit_of_work)) -> LeadOut:
    """A lead's stored profile, consent and source."""
    async with uow:
        row = await repository.get_lead(uow.connection, lead_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no lead with this id")
    return _out(row)
