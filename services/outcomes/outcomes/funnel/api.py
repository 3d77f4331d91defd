"""GET /v1/funnel (scope reports:read): leads per stage and stage-to-stage conversion."""

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from outcomes.funnel import service
from outcomes.funnel.schemas import FunnelOut
from outcomes.reports.window import check_window

router = APIRouter(prefix="/v1", tags=["outcomes"])


@router.get("/funnel", response_model=FunnelOut,
            dependencies=[Depends(require_scope("reports:read"))])
async def get_funnel(
    created_from: AwareDatetime | None = Query(
        default=None, alias="from", description="leads created at or after this time"),
    created_to: AwareDatetime | None = Query(
        default=None, alias="to", description="leads created before this time"),
    uow: UnitOfWork = Depends(unit_of_work),
) -> FunnelOut:
    """Leads per funnel stage, and stage-to-stage conversion, for leads created in the window."""
    check_window(created_from, created_to)
    async with uow:
        report = await service.funnel(uow, created_from, created_to)
    return FunnelOut.of(report, created_from, created_to)
