"""POST /v1/closed-leads (scope deals:write): close a lead as not converted."""

from fastapi import APIRouter, Depends, Response, status

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from outcomes.closures import service
from outcomes.closures.schemas import ClosedLeadIn, ClosedLeadOut

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
        closure, new = await service.close_lead(uow, body.report())
        await uow.commit()
    if not new:
        response.status_code = status.HTTP_200_OK
    return ClosedLeadOut.of(closure)
