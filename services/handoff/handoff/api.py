"""Handoff's HTTP routes: rep admin (scope "admin") and sales actions (scope "sales")."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError

from handoff import repository, service
from handoff.domain import TransitionNotAllowed
from handoff.queue_worker import wake_queue
from handoff.rep_schemas import RepIn, RepList, RepOut, RepPatch
from handoff.routing_tables import invalidate_routing
from handoff.schemas import (
    TEAM_PATTERN,
    AssignmentList,
    AssignmentOut,
    ContactIn,
    ConvertIn,
    RejectIn,
)
from leadloop.app import runtime_of, unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork

router = APIRouter(prefix="/v1")
_admin = [Depends(require_scope("admin"))]
_sales = [Depends(require_scope("sales"))]
_DUPLICATE_EMAIL = "another rep already has this email"
_NO_REP = "no rep with this id"
_NO_ASSIGNMENT = "no assignment with this id"


# --- reps ----------------------------------------------------------------------------------


@router.post("/reps", response_model=RepOut, status_code=status.HTTP_201_CREATED,
             dependencies=_admin, tags=["reps"],
             responses={409: {"description": _DUPLICATE_EMAIL}})
async def create_rep(rep: RepIn, request: Request,
                     uow: UnitOfWork = Depends(unit_of_work)) -> RepOut:
    """Add a sales rep who can receive leads (queued leads it can take go to it)."""
    async with uow:
        try:
            row = await service.create_rep(uow, rep)
        except repository.DuplicateRepEmail:
            raise HTTPException(status.HTTP_409_CONFLICT, _DUPLICATE_EMAIL) from None
        except service.InvalidManager as exc:
            raise _bad_manager(exc) from None
        await uow.commit()
    invalidate_routing()  # before the queue worker routes with it
    wake_queue(runtime_of(request))
    return RepOut.of(row)


@router.get("/reps", response_model=RepList, dependencies=_admin, tags=["reps"])
async def list_reps(team: str | None = Query(default=None, pattern=TEAM_PATTERN),
                    uow: UnitOfWork = Depends(unit_of_work)) -> RepList:
    """Every rep (of one team, if given) in rotation order, with the leads each holds."""
    async with uow:
        rows = await repository.list_reps(uow.connection, team)
    return RepList(reps=[RepOut.of(row) for row in rows])


@router.get("/reps/{rep_id}", response_model=RepOut, dependencies=_admin, tags=["reps"])
async def get_rep(rep_id: UUID, uow: UnitOfWork = Depends(unit_of_work)) -> RepOut:
    """One rep."""
    async with uow:
        row = await repository.get_rep(uow.connection, rep_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_REP)
    return RepOut.of(row)


@router.patch("/reps/{rep_id}", response_model=RepOut, dependencies=_admin, tags=["reps"],
              responses={409: {"description": _DUPLICATE_EMAIL}})
async def update_rep(rep_id: UUID, patch: RepPatch, request: Request,
                     uow: UnitOfWork = Depends(unit_of_work)) -> RepOut:
    """Change a rep, e.g. `{"active": false}` to stop routing to it. Its open leads stay;
    a rep who can take leads again gets those waiting in the fallback queue."""
    async with uow:
        try:
            row = await service.update_rep(uow, rep_id, patch)
        except service.RepNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_REP) from None
        except repository.DuplicateRepEmail:
            raise HTTPException(status.HTTP_409_CONFLICT, _DUPLICATE_EMAIL) from None
        except service.InvalidManager as exc:
            raise _bad_manager(exc) from None
        await uow.commit()
    invalidate_routing()  # before the queue worker routes with it
    wake_queue(runtime_of(request))
    return RepOut.of(row)


def _bad_manager(exc: Exception) -> RequestValidationError:
    """A 422 in the service-wide shape, naming manager_id and the reason."""
    return RequestValidationError([{"loc": ("body", "manager_id"), "msg": str(exc),
                                    "type": "value_error"}])


# --- queues --------------------------------------------------------------------------------


@router.get("/reps/{rep_id}/queue", response_model=AssignmentList, dependencies=_sales,
            tags=["queues"])
async def rep_queue(rep_id: UUID, uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentList:
    """The leads a rep holds (waiting for acceptance or accepted), oldest first."""
    async with uow:
        if await repository.get_rep(uow.connection, rep_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_REP)
        rows = await repository.rep_queue(uow.connection, rep_id)
    return AssignmentList(assignments=[AssignmentOut.of(row) for row in rows])


@router.get("/fallback-queue", response_model=AssignmentList, dependencies=_sales,
            tags=["queues"])
async def fallback_queue(uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentList:
    """Leads no rep could take when they qualified, oldest first."""
    async with uow:
        rows = await repository.fallback_queue(uow.connection)
    return AssignmentList(assignments=[AssignmentOut.of(row) for row in rows])


@router.get("/leads/{lead_id}/assignment", response_model=AssignmentOut, dependencies=_sales,
            tags=["assignments"])
async def lead_assignment(lead_id: UUID,
                          uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """The lead's open assignment, or its latest one."""
    async with uow:
        row = await repository.current_assignment_of(uow.connection, lead_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this lead has never been handed off")
    return AssignmentOut.of(row)


@router.get("/assignments/{assignment_id}", response_model=AssignmentOut, dependencies=_sales,
            tags=["assignments"])
async def get_assignment(assignment_id: UUID,
                         uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """One assignment."""
    async with uow:
        row = await repository.get_assignment(uow.connection, assignment_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_ASSIGNMENT)
    return AssignmentOut.of(row)


# --- sales actions -------------------------------------------------------------------------

@contextmanager
def _action_errors() -> Iterator[None]:
    """404 for an unknown assignment, 409 for an action its status does not allow."""
    try:
        yield
    except service.AssignmentNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_ASSIGNMENT) from None
    except TransitionNotAllowed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


_TRANSITION_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": _NO_ASSIGNMENT},
    409: {"description": "the assignment's status does not allow this"}}


@router.post("/assignments/{assignment_id}/accept", response_model=AssignmentOut,
             dependencies=_sales, tags=["assignments"], responses=_TRANSITION_RESPONSES)
async def accept(assignment_id: UUID, uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """Accept the lead (sales-accepted lead). Accepting again changes nothing."""
    async with uow:
        with _action_errors():
            row = await service.accept_assignment(uow, assignment_id)
        await uow.commit()
    return AssignmentOut.of(row)


@router.post("/assignments/{assignment_id}/reject", response_model=AssignmentOut,
             dependencies=_sales, tags=["assignments"], responses=_TRANSITION_RESPONSES)
async def reject(assignment_id: UUID, rejection: RejectIn, request: Request,
                 uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """Reject the lead; the assignment closes and nurture recycles the lead."""
    async with uow:
        with _action_errors():
            row = await service.reject_assignment(uow, assignment_id, rejection.reason_code,
                                                  rejection.note)
        await uow.commit()
    wake_queue(runtime_of(request))  # the rep has room for one more
    return AssignmentOut.of(row)


@router.post("/assignments/{assignment_id}/contacted", response_model=AssignmentOut,
             dependencies=_sales, tags=["assignments"], responses=_TRANSITION_RESPONSES)
async def contacted(assignment_id: UUID, contact: ContactIn | None = Body(default=None),
                    uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """Record that the rep touched the lead; only the first touch counts."""
    channel = contact.channel if contact else None
    async with uow:
        with _action_errors():
            row = await service.record_contact(uow, assignment_id, channel)
        await uow.commit()
    return AssignmentOut.of(row)


@router.post("/assignments/{assignment_id}/converted", response_model=AssignmentOut,
             dependencies=_sales, tags=["assignments"], responses=_TRANSITION_RESPONSES)
async def converted(assignment_id: UUID, request: Request,
                    conversion: ConvertIn | None = Body(default=None),
                    uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """The accepted lead became an opportunity; the assignment closes and frees capacity."""
    ref = conversion.opportunity_ref if conversion else None
    async with uow:
        with _action_errors():
            row = await service.convert_assignment(uow, assignment_id, ref)
        await uow.commit()
    wake_queue(runtime_of(request))  # the rep has room for one more
    return AssignmentOut.of(row)
