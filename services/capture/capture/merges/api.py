"""Merge routes: fold a duplicate lead into another, and undo it (capture.merges.service)."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response

from capture.idempotency import service as idempotency
from capture.merges import service
from capture.merges.domain import MergeResult
from capture.merges.schemas import MergeIn, MergeOut
from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork

router = APIRouter(prefix="/v1", tags=["merges"], dependencies=[Depends(require_scope("admin"))])


def _out(done: MergeResult) -> MergeOut:
    return MergeOut(merge_id=done.merge_id, lead_id=done.lead_id,
                    merged_lead_id=done.merged_lead_id, profile=done.profile)


@router.post("/leads/{lead_id}/merges", response_model=MergeOut, status_code=201)
async def merge_leads(lead_id: UUID, body: MergeIn, request: Request,
                      uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Fold a duplicate into this lead: its empty fields filled, the duplicate's activities
    and visitors moved here, its email resolving here from now on. With an Idempotency-Key a
    retry gets the first answer (not a 409)."""
    if body.duplicate_lead_id == lead_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "a lead cannot be merged into itself")
    async def merge(uow: UnitOfWork) -> dict[str, Any]:
        done = await service.merge(uow, lead_id, body.duplicate_lead_id)
        return _out(done).model_dump(mode="json")
    return await idempotency.answer_once(request, uow, "merges", 201, merge)


@router.post("/merges/{merge_id}/undo", response_model=MergeOut)
async def undo_merge(merge_id: UUID, request: Request,
                     uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Separate the two leads again; later changes to the survivor are kept. With an
    Idempotency-Key a retry gets the first answer (not a 409)."""
    async def undo(uow: UnitOfWork) -> dict[str, Any]:
        done = await service.undo(uow, merge_id)
        return _out(done).model_dump(mode="json")
    return await idempotency.answer_once(request, uow, "merges", 200, undo)
