"""Capture's HTTP routes."""

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Response, status

from capture import repository, service
from capture.schemas import LeadAccepted, LeadIn, LeadOut
from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork

router = APIRouter(prefix="/v1", tags=["leads"])


@router.post(
    "/leads",
    response_model=LeadAccepted,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_scope("leads:write"))],
    responses={200: {"model": LeadAccepted, "description": "Known email: lead merged"}},
)
async def post_lead(lead: LeadIn, response: Response,
                    uow: UnitOfWork = Depends(unit_of_work)) -> LeadAccepted:
    """Capture one lead. A known email (after normalization) updates that lead instead."""
    async with uow:
        lead_id, outcome = await service.capture_lead(uow, lead)
        await uow.commit()
    if outcome != "created":
        response.status_code = status.HTTP_200_OK
    return LeadAccepted(lead_id=lead_id, status=outcome)


@router.get("/leads/{lead_id}", response_model=LeadOut,
            dependencies=[Depends(require_scope("leads:read"))])
async def get_lead(lead_id: UUID, uow: UnitOfWork = Depends(unit_of_work)) -> LeadOut:
    """A lead's stored profile, consent and source."""
    async with uow:
        row = await repository.get_lead(uow.connection, lead_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no lead with this id")
    return LeadOut(lead_id=row.id, profile=row.profile, consent=row.consent, source=row.source)
