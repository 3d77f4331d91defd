"""Leads closed as not converted: sales or an integration says a lead is done without a deal
(no response, chose a competitor, ...). Each closure is announced as lead.closed: the funnel
counts it as a side exit, scoring learns from it as a negative outcome beside lost deals.

A lead is closed once: the same report again is answered with the stored closure; a different
one, a lead that was won, or an erased lead is refused (409).
"""

import uuid
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadClosed, event_time_now
from outcomes.funnel import repository
from outcomes.funnel.domain import MAX_CLOCK_SKEW
from outcomes.reports.window import out_of_range
from outcomes.tables import deals, lead_closures

Reason = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$",
                              description="a reason code, e.g. no_response, chose_competitor, "
                                          "not_interested, no_budget, bad_fit, other")]


class ClosedLeadIn(BaseModel):
    """A lead closed as not converted."""

    model_config = ConfigDict(extra="forbid")

    lead_id: UUID
    reason: Reason
    note: str | None = Field(default=None, max_length=1000, description="free text for people")
    closed_at: AwareDatetime | None = Field(default=None, description="defaults to now")

    @field_validator("closed_at")
    @classmethod
    def _closed_at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        problem = out_of_range(value)
        if problem is None and value > event_time_now() + MAX_CLOCK_SKEW:
            problem = "closed_at is in the future"
        if problem:
            raise ValueError(problem)
        return value


class ClosedLeadOut(BaseModel):
    """A lead's closure as outcomes stores it."""

    closure_id: UUID
    lead_id: UUID
    reason: str
    note: str | None
    closed_at: datetime


class ClosureRefused(Exception):
    """The lead cannot be closed as asked (closed otherwise already, won, erased)."""


async def _stored(conn: AsyncConnection, lead_id: UUID) -> ClosedLeadOut | None:
    row = (await conn.execute(select(lead_closures).where(lead_closures.c.lead_id == lead_id)
                              .with_for_update())).one_or_none()
    return None if row is None else ClosedLeadOut.model_validate(row, from_attributes=True)


async def close_lead(uow: UnitOfWork, body: ClosedLeadIn) -> tuple[ClosedLeadOut, bool]:
    """Store a lead's closure and announce it once; (the closure, whether it is new)."""
    conn = uow.connection
    if await repository.lead_is_erased(conn, body.lead_id):
        raise ClosureRefused("this lead was erased; nothing more is recorded about it")
    if await conn.scalar(select(exists().where(deals.c.lead_id == body.lead_id,
                                               deals.c.status == "won"))):
        raise ClosureRefused("this lead has a won deal: it converted")
    closure = ClosedLeadOut(closure_id=uuid.uuid4(), lead_id=body.lead_id, reason=body.reason,
                            note=body.note, closed_at=body.closed_at or event_time_now())
    inserted = await conn.scalar(pg_insert(lead_closures).values(**closure.model_dump())
                                 .on_conflict_do_nothing(index_elements=[lead_closures.c.lead_id])
                                 .returning(lead_closures.c.closure_id))
    if inserted is not None:
        uow.publish(LeadClosed(**closure.model_dump()))
        return closure, True
    stored = await _stored(conn, body.lead_id)
    assert stored is not None  # the conflict was on this lead's row
    if (stored.reason, stored.note) != (body.reason, body.note) or (
            body.closed_at is not None and body.closed_at != stored.closed_at):
        raise ClosureRefused(f"this lead was closed already on {stored.closed_at.isoformat()} "
                             f"as '{stored.reason}'")
    return stored, False


async def anonymize_closures(conn: AsyncConnection, lead_id: UUID, anonymous_id: UUID) -> None:
    """Detach an erased lead's closure from it: the reason code stays, the note goes."""
    await conn.execute(update(lead_closures).where(lead_closures.c.lead_id == lead_id)
                       .values(lead_id=anonymous_id, note=None))


router = APIRouter(prefix="/v1", tags=["outcomes"])


@router.post(
    "/closed-leads", response_model=ClosedLeadOut, status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_scope("deals:write"))],
    responses={200: {"model": ClosedLeadOut, "description": "Closed already, the same way"},
               409: {"description": "Closed otherwise already, won, or erased"}},
)
async def post_closed_lead(body: ClosedLeadIn, response: Response,
                           uow: UnitOfWork = Depends(unit_of_work)) -> ClosedLeadOut:
    """Close a lead as not converted, with a reason: counted in the funnel (`not_converted`)
    and learned from by scoring as a negative outcome, like a lost deal without one."""
    async with uow:
        try:
            closure, new = await close_lead(uow, body)
        except ClosureRefused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        await uow.commit()
    if not new:
        response.status_code = status.HTTP_200_OK
    return closure


