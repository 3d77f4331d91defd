"""Handoff's HTTP routes: rep admin (scope "admin") and sales actions (scope "sales")."""

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.assignments import repository, service
from handoff.assignments.domain import AssignmentStatus
from handoff.assignments.repository import AssignmentView
from handoff.assignments.schemas import (
    TEAM_PATTERN,
    AssignIn,
    AssignmentOut,
    ContactIn,
    ConvertIn,
    RejectIn,
    ViewerOut,
)
from handoff.config import HandoffSettings
from handoff.exceptions import (
    AlreadyHeld,
    AssigneeNotAllowed,
    AssignmentNotFound,
    LeadNotQualified,
    NotAManager,
    NotYourLead,
    TransitionNotAllowed,
    UnknownRep,
)
from handoff.queue.worker import wake_queue
from handoff.reps import repository as rep_repository
from handoff.routing.reference import routing_tables
from handoff.sales.access import Viewer, viewer_of
from handoff.tables import assignments
from leadloop.app import runtime_of, settings_of, unit_of_work
from leadloop.auth import Principal, require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import Page, cursor_query, decode_cursor, limit_query, page_of
from leadloop.problems import invalid_query

router = APIRouter(prefix="/v1")
_NO_REP = "no rep with this id"
_NO_ASSIGNMENT = "no assignment with this id"


# --- who is calling ------------------------------------------------------------------------


async def sales_viewer(request: Request,
                       principal: Principal = Depends(require_scope("sales"))) -> Viewer:
    """FastAPI dependency: the caller's view of the leads (its rep's, its team's, or all)."""
    async with runtime_of(request).engine.connect() as conn:
        tables = await routing_tables(conn)
    try:
        return viewer_of(principal, tables)
    except UnknownRep as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None


@contextmanager
def _access_errors() -> Iterator[None]:
    """403 when the caller's rep may not see the lead or is not a manager."""
    try:
        yield
    except (NotYourLead, NotAManager) as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None


_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"description": "the key's rep may not see this lead (or is not a manager)"}}


@router.get("/me", response_model=ViewerOut, tags=["queues"])
async def who_am_i(viewer: Viewer = Depends(sales_viewer)) -> ViewerOut:
    """Who this key acts as: its rep (if bound to one), whether it manages, and which teams."""
    return ViewerOut(name=viewer.actor, rep_id=viewer.rep_id, manager=viewer.manager,
                     sees_all=viewer.sees_all, teams=sorted(viewer.teams),
                     reports=sorted(viewer.reports))


# --- queues --------------------------------------------------------------------------------


def _queue_after(cursor: str | None) -> list[Any] | None:
    """The queue-order key a cursor holds, checked (a 422 naming `cursor` otherwise)."""
    if cursor is None:
        return None
    deadline, handed_off_at, assignment_id = decode_cursor(cursor, 3)
    try:
        if deadline != "infinity":
            datetime.fromisoformat(deadline)
        datetime.fromisoformat(handed_off_at)
        UUID(assignment_id)
    except (TypeError, ValueError):
        raise invalid_query("cursor", "not a cursor this API returned") from None
    return [deadline, handed_off_at, assignment_id]


async def _page(uow: UnitOfWork, where: list[Any], cursor: str | None,
                limit: int) -> Page[AssignmentOut]:
    async with uow:
        rows = await repository.assignment_page(uow.connection, where, _queue_after(cursor),
                                                limit)
    kept, next_cursor = page_of(rows, limit, repository.queue_key)
    return Page[AssignmentOut](items=[AssignmentOut.of(row) for row in kept],
                               next_cursor=next_cursor)


def _visible(viewer: Viewer) -> list[Any]:
    if viewer.sees_all:
        return []
    assert viewer.rep_id is not None
    return [repository.visible_to(viewer.rep_id, sorted(viewer.teams), sorted(viewer.reports))]


@router.get("/assignments", response_model=Page[AssignmentOut], tags=["queues"])
async def list_assignments(
    rep_id: UUID | None = Query(default=None, description="only this rep's"),
    team: str | None = Query(default=None, pattern=TEAM_PATTERN),
    status_: AssignmentStatus | None = Query(
        default=None, alias="status", description="default: every open assignment"),
    limit: int = limit_query(), cursor: str | None = cursor_query(),
    viewer: Viewer = Depends(sales_viewer), uow: UnitOfWork = Depends(unit_of_work),
) -> Page[AssignmentOut]:
    """The assignments this key may see, soonest SLA deadline first (the fallback queue, which
    has none, last): a rep key sees its own, a manager's its team's and reports'."""
    where = _visible(viewer)
    where.append(assignments.c.status == status_.value if status_ is not None
                 else assignments.c.status.in_(repository.OPEN))
    if rep_id is not None:
        where.append(assignments.c.rep_id == rep_id)
    if team is not None:
        where.append(assignments.c.team == team)
    return await _page(uow, where, cursor, limit)


@router.get("/reps/{rep_id}/queue", response_model=Page[AssignmentOut], tags=["queues"],
            responses=_FORBIDDEN)
async def rep_queue(rep_id: UUID, limit: int = limit_query(),
                    cursor: str | None = cursor_query(), viewer: Viewer = Depends(sales_viewer),
                    uow: UnitOfWork = Depends(unit_of_work)) -> Page[AssignmentOut]:
    """The leads a rep holds (waiting for acceptance or accepted), soonest SLA deadline first."""
    async with uow:
        rep = await rep_repository.get_rep(uow.connection, rep_id)
    if rep is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_REP)
    with _access_errors():
        viewer.check(rep_id, rep.team)
    return await _page(uow, [repository.held_by(rep_id)], cursor, limit)


@router.get("/fallback-queue", response_model=Page[AssignmentOut], tags=["queues"],
            responses=_FORBIDDEN)
async def fallback_queue(team: str | None = Query(default=None, pattern=TEAM_PATTERN),
                         limit: int = limit_query(), cursor: str | None = cursor_query(),
                         viewer: Viewer = Depends(sales_viewer),
                         uow: UnitOfWork = Depends(unit_of_work)) -> Page[AssignmentOut]:
    """Leads no rep could take, oldest first (a manager's key: its teams' only). A manager
    assigns one with POST /v1/assignments/{lead_id}/assign."""
    if not viewer.sees_all:
        with _access_errors():
            viewer.check_manager()
    teams = None if viewer.sees_all else sorted(viewer.teams)
    if team is not None:
        teams = [team] if teams is None or team in teams else []
    return await _page(uow, [repository.queued_in(teams)], cursor, limit)


async def _shown(uow: UnitOfWork, viewer: Viewer,
                 find: Callable[[AsyncConnection], Awaitable[AssignmentView | None]],
                 not_found: str) -> AssignmentOut:
    """The assignment `find` finds, if the caller may see it: 404 saying what is missing,
    else 403."""
    async with uow:
        row = await find(uow.connection)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, not_found)
    with _access_errors():
        viewer.check(row.rep_id, row.team)
    return AssignmentOut.of(row)


@router.get("/leads/{lead_id}/assignment", response_model=AssignmentOut, tags=["assignments"],
            responses=_FORBIDDEN)
async def lead_assignment(lead_id: UUID, viewer: Viewer = Depends(sales_viewer),
                          uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """The lead's open assignment, or its latest one."""
    return await _shown(uow, viewer, lambda conn: repository.current_assignment_of(conn, lead_id),
                        "this lead has never been handed off")


@router.get("/assignments/{assignment_id}", response_model=AssignmentOut, tags=["assignments"],
            responses=_FORBIDDEN)
async def get_assignment(assignment_id: UUID, viewer: Viewer = Depends(sales_viewer),
                         uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """One assignment."""
    return await _shown(uow, viewer, lambda conn: repository.get_assignment(conn, assignment_id),
                        _NO_ASSIGNMENT)


# --- sales actions -------------------------------------------------------------------------

@contextmanager
def _action_errors() -> Iterator[None]:
    """404 for an unknown assignment, 403 for another rep's, 409 for an action its status does
    not allow."""
    try:
        with _access_errors():
            yield
    except AssignmentNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_ASSIGNMENT) from None
    except TransitionNotAllowed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


_TRANSITION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_FORBIDDEN, 404: {"description": _NO_ASSIGNMENT},
    409: {"description": "the assignment's status does not allow this"}}


async def _act(uow: UnitOfWork, action: Callable[[], Awaitable[AssignmentView]],
               frees: Request | None = None) -> AssignmentOut:
    """Apply a sales action and commit it. An action that closes the assignment `frees` the
    rep's room for one more lead: the fallback queue is woken to fill it."""
    async with uow:
        with _action_errors():
            row = await action()
        await uow.commit()
    if frees is not None:
        wake_queue(runtime_of(frees))
    return AssignmentOut.of(row)


@router.post("/assignments/{assignment_id}/accept", response_model=AssignmentOut,
             tags=["assignments"], responses=_TRANSITION_RESPONSES)
async def accept(assignment_id: UUID, viewer: Viewer = Depends(sales_viewer),
                 uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """Accept the lead (sales-accepted lead). Accepting again changes nothing."""
    return await _act(uow, lambda: service.accept_assignment(uow, assignment_id, viewer))


@router.post("/assignments/{assignment_id}/reject", response_model=AssignmentOut,
             tags=["assignments"], responses=_TRANSITION_RESPONSES)
async def reject(assignment_id: UUID, rejection: RejectIn, request: Request,
                 viewer: Viewer = Depends(sales_viewer),
                 uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """Reject the lead; the assignment closes and nurture recycles the lead."""
    return await _act(uow, lambda: service.reject_assignment(
        uow, assignment_id, rejection.reason_code, rejection.note, viewer), frees=request)


@router.post("/assignments/{assignment_id}/contacted", response_model=AssignmentOut,
             tags=["assignments"], responses=_TRANSITION_RESPONSES)
async def contacted(assignment_id: UUID, contact: ContactIn | None = Body(default=None),
                    viewer: Viewer = Depends(sales_viewer),
                    uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """Record that the rep touched the lead; only the first touch counts."""
    channel = contact.channel if contact else None
    return await _act(uow, lambda: service.record_contact(uow, assignment_id, channel, viewer))


@router.post("/assignments/{assignment_id}/converted", response_model=AssignmentOut,
             tags=["assignments"], responses=_TRANSITION_RESPONSES)
async def converted(assignment_id: UUID, request: Request,
                    conversion: ConvertIn | None = Body(default=None),
                    viewer: Viewer = Depends(sales_viewer),
                    uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """The accepted lead became an opportunity; the assignment closes and frees capacity."""
    ref = conversion.opportunity_ref if conversion else None
    return await _act(uow, lambda: service.convert_assignment(uow, assignment_id, ref, viewer),
                      frees=request)


@router.post("/assignments/{lead_id}/assign", response_model=AssignmentOut,
             tags=["assignments"], responses={
                 **_FORBIDDEN, 404: {"description": "handoff has no such lead"},
                 409: {"description": "the rep already holds the lead"}})
async def assign_lead(lead_id: UUID, assignment: AssignIn, request: Request,
                      viewer: Viewer = Depends(sales_viewer),
                      uow: UnitOfWork = Depends(unit_of_work)) -> AssignmentOut:
    """A manager assigns (or reassigns) a lead to a rep, from the fallback queue or from another
    rep, with a reason: published as lead.handed_off with routing_rule `manual`."""
    async with uow:
        try:
            with _access_errors():
                settings = settings_of(runtime_of(request), HandoffSettings)
                row = await service.assign_manually(uow, lead_id, assignment.rep_id,
                                                    assignment.reason, viewer, settings)
        except LeadNotQualified as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except AlreadyHeld as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        except AssigneeNotAllowed as exc:
            raise RequestValidationError([{"loc": ("body", "rep_id"), "msg": str(exc),
                                           "type": "value_error"}]) from None
        await uow.commit()
    wake_queue(runtime_of(request))  # the previous holder has room for one more
    return AssignmentOut.of(row)
