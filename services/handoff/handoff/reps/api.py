"""Rep admin routes (scope "admin"): add, list, read and change reps."""


from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError

from handoff.assignments.schemas import (
    TEAM_PATTERN,
)
from handoff.exceptions import (
    DuplicateRepEmail,
    InvalidManager,
    RepNotFound,
)
from handoff.queue.worker import wake_queue
from handoff.reps import repository, service
from handoff.reps.repository import RepRow
from handoff.reps.schemas import RepIn, RepList, RepOut, RepPatch
from handoff.routing.reference import invalidate_routing
from leadloop.app import runtime_of, unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import cursor_query, limit_query, page_of, parse_cursor

router = APIRouter(prefix="/v1")
_admin = [Depends(require_scope("admin"))]
_DUPLICATE_EMAIL = "another rep already has this email"
_NO_REP = "no rep with this id"


async def _saved(request: Request, uow: UnitOfWork,
                 change: Callable[[], Awaitable[RepRow]]) -> RepOut:
    """Apply a rep change and commit it; then routing and the fallback queue see it at once.
    404 for an unknown rep, 409 for an email another rep has, 422 naming manager_id."""
    async with uow:
        try:
            row = await change()
        except RepNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_REP) from None
        except DuplicateRepEmail:
            raise HTTPException(status.HTTP_409_CONFLICT, _DUPLICATE_EMAIL) from None
        except InvalidManager as exc:
            raise RequestValidationError([{"loc": ("body", "manager_id"), "msg": str(exc),
                                           "type": "value_error"}]) from None
        await uow.commit()
    invalidate_routing()  # before the queue worker routes with it
    wake_queue(runtime_of(request))
    return RepOut.model_validate(row)


@router.post("/reps", response_model=RepOut, status_code=status.HTTP_201_CREATED,
             dependencies=_admin, tags=["reps"],
             responses={409: {"description": _DUPLICATE_EMAIL}})
async def create_rep(rep: RepIn, request: Request,
                     uow: UnitOfWork = Depends(unit_of_work)) -> RepOut:
    """Add a sales rep who can receive leads (queued leads it can take go to it)."""
    return await _saved(request, uow, lambda: service.create_rep(uow, rep))


@router.get("/reps", response_model=RepList, dependencies=_admin, tags=["reps"])
async def list_reps(team: str | None = Query(default=None, pattern=TEAM_PATTERN),
                    limit: int = limit_query(), cursor: str | None = cursor_query(),
                    uow: UnitOfWork = Depends(unit_of_work)) -> RepList:
    """Every rep (of one team, if given) in rotation order, with the leads each holds."""
    after = parse_cursor(cursor, (str, datetime.fromisoformat, UUID))  # rotation order
    async with uow:
        rows = await repository.list_reps(uow.connection, team, after, limit + 1)
    kept, next_cursor = page_of(rows, limit, lambda row: [row.team, row.created_at.isoformat(),
                                                          str(row.id)])
    return RepList(items=[RepOut.model_validate(row) for row in kept], next_cursor=next_cursor)


@router.get("/reps/{rep_id}", response_model=RepOut, dependencies=_admin, tags=["reps"])
async def get_rep(rep_id: UUID, uow: UnitOfWork = Depends(unit_of_work)) -> RepOut:
    """One rep."""
    async with uow:
        row = await repository.get_rep(uow.connection, rep_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_REP)
    return RepOut.model_validate(row)


@router.patch("/reps/{rep_id}", response_model=RepOut, dependencies=_admin, tags=["reps"],
              responses={409: {"description": _DUPLICATE_EMAIL}})
async def update_rep(rep_id: UUID, patch: RepPatch, request: Request,
                     uow: UnitOfWork = Depends(unit_of_work)) -> RepOut:
    """Change a rep, e.g. `{"active": false}` to stop routing to it. Its open leads stay;
    a rep who can take leads again gets those waiting in the fallback queue."""
    return await _saved(request, uow, lambda: service.update_rep(uow, rep_id, patch))




