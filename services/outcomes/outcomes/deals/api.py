"""Deal routes (scope deals:write): record a sales tool's deal, read one."""

from fastapi import APIRouter, Depends, Response, status

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from outcomes.deals import repository, service
from outcomes.deals.schemas import DealIn, DealOut
from outcomes.exceptions import found

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
        stored, outcome = await service.record_deal(uow, deal.report())
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
    return DealOut.of(found(deal, "no deal with this external_id"))
