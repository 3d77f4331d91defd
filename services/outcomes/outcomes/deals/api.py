"""Outcomes' HTTP routes."""

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import AwareDatetime

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from outcomes.deals.schemas import DealIn, DealOut, FunnelOut
from outcomes.funnel import repository, service
from outcomes.reports.window import check_window

router = APIRouter(prefix="/v1", tags=["outcomes"])


@router.post(
    "/deals",
    response_model=DealOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_scope("deals:write"))],
    responses={200: {"model": DealOut, "description": "Known deal: unchanged or updated"},
               409: {"description": "A change the deal cannot take, or an erased lead"}},
)
async def post_deal(deal: DealIn, response: Response,
                    uow: UnitOfWork = Depends(unit_of_work)) -> DealOut:
    """Record a deal from a sales tool. The same external_id again is the same deal: an
    identical report changes nothing; open -> won or lost closes it."""
    async with uow:
        try:
            stored, outcome = await service.record_deal(uow, deal.report())
        except service.DealRefused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        await uow.commit()
    if outcome != "created":
        response.status_code = status.HTTP_200_OK
    return DealOut.of(stored)


@router.get("/deals/{external_id}", response_model=DealOut,
            dependencies=[Depends(require_scope("deals:write"))])
async def get_deal(external_id: str, uow: UnitOfWork = Depends(unit_of_work)) -> DealOut:
    """A deal by the sales tool's id."""
    async with uow:
        deal = await repository.get_deal(uow.connection, external_id)
    if deal is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no deal with this external_id")
    return DealOut.of(deal)


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

