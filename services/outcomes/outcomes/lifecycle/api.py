"""A lead's lifecycle stage: read it (leads:read) and reset it (admin).

The stage moves forward on its own (outcomes.lifecycle.domain); a reset is an admin's correction,
announced as lead.stage_changed with `reset` true, and causes that happened before it no longer
count.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from leadloop.app import unit_of_work
from leadloop.auth import Principal, require_scope
from leadloop.db import UnitOfWork
from leadloop.events.models import Actor
from leadloop.lifecycle import LifecycleStage
from outcomes.exceptions import LeadNotFound
from outcomes.lifecycle import repository as lifecycle_repository
from outcomes.lifecycle import service
from outcomes.lifecycle.domain import LeadLifecycle

router = APIRouter(prefix="/v1", tags=["lifecycle"])


class LifecycleStageOut(BaseModel):
    """A lead's lifecycle stage."""

    lead_id: UUID
    stage: LifecycleStage | None = Field(description="null until an event gave it one")
    since: datetime | None = Field(description="when it reached the stage (or was reset)")
    reset_at: datetime | None = Field(description="the latest admin reset, if any")

    @classmethod
    def of(cls, row: LeadLifecycle) -> "LifecycleStageOut":
        """From the stored row."""
        return cls(lead_id=row.lead_id, stage=row.stage, since=row.stage_at,
                   reset_at=row.reset_at)


class StageResetIn(BaseModel):
    """An admin's reset of a lead's stage."""

    model_config = ConfigDict(extra="forbid")

    stage: LifecycleStage = Field(description="the stage to set, in any direction")
    reason: str = Field(min_length=1, max_length=500, description="why (kept on the event "
                        "and the lead's timeline)")


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no event about this lead has been seen, or it was erased"}}


@router.get("/leads/{lead_id}/lifecycle-stage", response_model=LifecycleStageOut,
            dependencies=[Depends(require_scope("leads:read"))], responses=_NOT_FOUND)
async def get_lifecycle_stage(lead_id: UUID,
                              uow: UnitOfWork = Depends(unit_of_work)) -> LifecycleStageOut:
    """The lead's lifecycle stage and since when."""
    async with uow:
        row = await lifecycle_repository.get_stage(uow.connection, lead_id)
    if row is None or row.erased:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no stage for this lead (unknown, or "
                            "erased)")
    return LifecycleStageOut.of(row)


@router.post("/leads/{lead_id}/lifecycle-stage:reset", response_model=LifecycleStageOut,
             responses=_NOT_FOUND)
async def reset_lifecycle_stage(
    lead_id: UUID, body: StageResetIn, uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_scope("admin")),
) -> LifecycleStageOut:
    """Set the lead's stage (any direction, e.g. a customer back to lead after a refund);
    announced as lead.stage_changed (reset). Events that happened before the reset no longer
    move the lead."""
    async with uow:
        try:
            row = await service.reset_stage(uow, lead_id, body.stage, body.reason,
                                            Actor(name=principal.name, rep_id=principal.rep_id))
        except LeadNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no stage for this lead (unknown, "
                                "or erased)") from None
        await uow.commit()
    return LifecycleStageOut.of(row)
