"""A lead's enrollments and messages (read scope): what nurture did with one lead."""

from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import Keyset, cursor_query, limit_query
from nurture.leads import repository
from nurture.leads.schemas import EnrollmentOut, LeadEnrollments, LeadMessages, MessageOut

router = APIRouter(prefix="/v1", tags=["nurture"])

T = TypeVar("T")


async def _page(uow: UnitOfWork, read: Callable[[AsyncConnection, UUID, str | None, int],
                                              Awaitable[list[T]]],
                order: Keyset, lead_id: UUID, cursor: str | None,
                limit: int) -> tuple[list[T], str | None]:
    """One page of one of the lead's lists, and the next page's cursor."""
    async with uow:
        rows = await read(uow.connection, lead_id, cursor, limit)
    return order.page(rows, limit)


@router.get("/leads/{lead_id}/enrollments", response_model=LeadEnrollments,
            dependencies=[Depends(require_scope("nurture:read"))])
async def get_lead_enrollments(lead_id: UUID, limit: int = limit_query(),
                               cursor: str | None = cursor_query(),
                               uow: UnitOfWork = Depends(unit_of_work)) -> LeadEnrollments:
    """A lead's enrollments, oldest first: which sequence version, where it stands, and why
    it stopped."""
    kept, next_cursor = await _page(uow, repository.enrollments_of, repository.ENROLLMENT_ORDER,
                                    lead_id, cursor, limit)
    return LeadEnrollments(lead_id=lead_id, items=[EnrollmentOut.of(e) for e in kept],
                           next_cursor=next_cursor)


@router.get("/leads/{lead_id}/messages", response_model=LeadMessages,
            dependencies=[Depends(require_scope("nurture:read"))])
async def get_lead_messages(lead_id: UUID, limit: int = limit_query(),
                            cursor: str | None = cursor_query(),
                            uow: UnitOfWork = Depends(unit_of_work)) -> LeadMessages:
    """What nurture sent a lead, oldest first: sequence, step, channel, template, when, and
    any refusal."""
    kept, next_cursor = await _page(uow, repository.messages_of, repository.MESSAGE_ORDER,
                                    lead_id, cursor, limit)
    return LeadMessages(lead_id=lead_id, items=[MessageOut(**m.model_dump()) for m in kept],
                        next_cursor=next_cursor)
