"""GET /v1/funnel (scope reports:read): leads per stage and stage-to-stage conversion."""

from fastapi import APIRouter, Depends

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from outcomes.funnel import service
from outcomes.funnel.schemas import FunnelOut
from outcomes.reports.window import Window

router = APIRouter(prefix="/v1", tags=["outcomes"])


@router.get("/funnel", response_model=FunnelOut,
            dependencies=[Depends(require_scope("reports:read"))])
async def get_funnel(window: Window = Depends(),
                     uow: UnitOfWork = Depends(unit_of_work)) -> FunnelOut:
    """Leads per funnel stage, and stage-to-stage conversion, for leads created in the window."""
    async with uow:
        report = await service.funnel(uow, window.start, window.end)
    return FunnelOut.of(report, window.start, window.end)
