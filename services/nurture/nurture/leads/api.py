"""A lead's enrollments and messages (read scope): what nurture did with one lead."""

from dataclasses import asdict
from uuid import UUID

from fastapi import APIRouter, Depends

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import cursor_query, limit_query
from nurture.leads import repository
from nurture.leads.schemas import EnrollmentOut, LeadEnrollments, LeadMessages, MessageOut

router = APIRouter(prefix="/v1", tags=["nurture"])


@router.get("/leads/{lead_id}/enrollments", response_model=LeadEnrollments,
            dependencies=[Depends(require_scope("nurture:read"))])
async def get_lead_enrollments(lead_id: UUID, limit: int = limit_query(),
                               cursor: str | None = cursor_query(),
                               uow: UnitOfWork = Depends(unit_of_work)) -> LeadEnrollments:
    """A lead's enrollments, oldest first: which sequence version, where it stands, and why
    it stopped."""
    async with uow:
        rows = await repository.enrollments_of(uow.connection, lead_id, cursor, limit)
    kept, next_cursor = repository.ENROLLMENT_ORDER.page(rows, limit)
    return LeadEnrollments(lead_id=lead_id, items=[EnrollmentOut.of(e) for e in kept],
                           next_cursor=next_cursor)


@router.get("/leads/{lead_id}/messages", response_model=LeadMessages,
            dependencies=[Depends(require_scope("nurture:read"))])
async def get_lead_messages(lead_id: UUID, limit: int = limit_query(),
                            cursor: str | None = cursor_query(),
                            uow: UnitOfWork = Depends(unit_of_work)) -> LeadMessages:
    """What nurture sent a lead, oldest first: sequence, step, channel, template, when, and
    any refusal."""
    async with uow:
        rows = await repository.messages_of(uow.connection, lead_id, cursor, limit)
    kept, next_cursor = repository.MESSAGE_ORDER.page(rows, limit)
    return LeadMessages(lead_id=lead_id, items=[
        MessageOut(message_id=r.id, **{k: v for k, v in asdict(r).items()
                                      if k in MessageOut.model_fields}) for r in kept],
        next_cursor=next_cursor)
