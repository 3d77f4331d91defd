"""Nurture's HTTP routes."""

from uuid import UUID

from fastapi import APIRouter, Depends

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from nurture import repository
from nurture.schemas import EnrollmentOut, LeadEnrollments, SequenceList, SequenceOut

router = APIRouter(prefix="/v1", tags=["nurture"])


@router.get("/leads/{lead_id}/enrollments", response_model=LeadEnrollments,
            dependencies=[Depends(require_scope("nurture:read"))])
async def get_lead_enrollments(lead_id: UUID,
                               uow: UnitOfWork = Depends(unit_of_work)) -> LeadEnrollments:
    """A lead's enrollments: which sequence version, where it stands, and why it stopped."""
    async with uow:
        enrollments = await repository.enrollments_of(uow.connection, lead_id)
    return LeadEnrollments(lead_id=lead_id,
                           enrollments=[EnrollmentOut.of(e) for e in enrollments])


@router.get("/sequences", response_model=SequenceList,
            dependencies=[Depends(require_scope("admin"))])
async def list_sequences(uow: UnitOfWork = Depends(unit_of_work)) -> SequenceList:
    """Every version of every sequence, with its steps and entry rule."""
    async with uow:
        rows = await repository.all_sequences(uow.connection)
    return SequenceList(sequences=[SequenceOut.of(row) for row in rows])
