"""The sales page at /sales: a rep's queue, a lead's story and the buttons to act on it, and a
manager's view of the team and the fallback queue. Server-rendered (Jinja2, autoescaped), no
script at all, one inline stylesheet pinned by the CSP: works offline and on a phone.

Sign-in takes a key with the `sales` scope (a rep's key, minted with POST /v1/reps/{id}/keys)
and starts a session: the cookie holds the session's id and expiry, signed with
PAGE_SESSION_SECRET (leadloop.page_sessions), HttpOnly, SameSite=Strict, Secure behind TLS; the
session row names the key by its hash, so revoking the key ends the session at the next click.
Every POST carries the session's CSRF token and must come from this origin. The page sees and
does exactly what the key may through the API: the same Viewer, the same service functions.
"""

import hmac
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from handoff.assignments import repository, service
from handoff.assignments.schemas import AssignIn, ContactIn, RejectIn
from handoff.config import HandoffSettings
from handoff.exceptions import SalesActionRefused, UnknownRep
from handoff.keys.service import resolve_rep_key
from handoff.queue.worker import wake_queue
from handoff.routing.reference import routing_tables
from handoff.sales import repository as sales_repository
from handoff.sales.access import Viewer, viewer_of
from handoff.sales.story import lead_story, time_left
from leadloop import page_sessions as sessions
from leadloop.app import runtime_of, settings_of, unit_of_work
from leadloop.auth import Principal, hash_key, resolve_key
from leadloop.db import UnitOfWork
from leadloop.events.models import RejectionReason
from leadloop.security import html_policy
from leadloop.templates import Templates

router = APIRouter(prefix="/sales", tags=["sales page"], include_in_schema=False)
COOKIE = "leadloop_sales"
SCOPE = "sales"
QUEUE_ROWS = 200  # a page shows this many rows of a queue; the API pages the rest

_TEMPLATES = Templates("handoff")
CSS = _TEMPLATES.static("sales.css")
# The only inline block is the stylesheet, allowed by its hash; forms post to this service only;
# no script, no image, no frame.
PAGE_HEADERS = {"Content-Security-Policy": html_policy(styles=[CSS]),
                "Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in page visitor: which session, and what its key may see."""

    id: UUID
    viewer: Viewer
    csrf: str


def _secret(request: Request) -> bytes:
    settings = settings_of(runtime_of(request), HandoffSettings)
    return sessions.session_secret(settings.page_session_secret, request.app.state,
                                   "LEADLOOP_HANDOFF_PAGE_SESSION_SECRET")


async def _principal_by_hash(request: Request, sha256: str) -> Principal | None:
    """The caller a key's hash stands for now: a configured key, else a live rep key."""
    for record in request.app.state.settings.api_keys:
        if hmac.compare_digest(record.sha256, sha256):
            return Principal(name=record.name, scopes=frozenset(record.scopes),
                             rep_id=record.rep_id)
    return await resolve_rep_key(request, sha256)


async def _session(request: Request, uow: UnitOfWork) -> Session | None:
    """The live session of this request's cookie, with its key's current view; None when
    there is none (no cookie, forged, expired, signed out, key revoked or lost the scope)."""
    now = datetime.now(UTC)
    secret = _secret(request)
    cookie = sessions.verify(secret, request.cookies.get(COOKIE, ""), now)
    if cookie is None:
        return None
    sha256 = await sales_repository.session_key(uow.connection, cookie.session_id, now)
    principal = None if sha256 is None else await _principal_by_hash(request, sha256)
    if principal is None or not principal.has(SCOPE):
        return None
    try:
        viewer = viewer_of(principal, await routing_tables(uow.connection))
    except UnknownRep:
        return None
    return Session(cookie.session_id, viewer, sessions.csrf_token(secret, cookie.session_id))


def _render(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _TEMPLATES.render(template, css=CSS, **context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER)


def _same_origin(request: Request) -> bool:
    """Not a POST from another site's page. Browsers send `Origin: null` from our own pages
    (they are served with Referrer-Policy: no-referrer), so only a named other origin is
    refused; the session's CSRF token is what proves a form is ours."""
    origin = request.headers.get("origin")
    return origin in (None, "null") or urlsplit(origin).netloc == request.url.netloc


def _post_allowed(request: Request, session: Session, csrf: str) -> bool:
    return _same_origin(request) and hmac.compare_digest(session.csrf, csrf)


# --- signing in and out --------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_page() -> HTMLResponse:
    """The sign-in form."""
    return _render("login.html", title="Sign in", error=None)


@router.post("/login")
async def login(request: Request, api_key: Annotated[str, Form(max_length=200)],
                uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Check the key; on success start a session, set its cookie and open the queue."""
    key = api_key.strip()
    principal = await resolve_key(request, key) if key else None
    if principal is None or not principal.has(SCOPE) or not _same_origin(request):
        return _render("login.html", status.HTTP_401_UNAUTHORIZED, title="Sign in",
                       error="This key is unknown, revoked or lacks the sales scope.")
    now = datetime.now(UTC)
    lifetime = settings_of(runtime_of(request), HandoffSettings).page_session_s
    session_id, expires_at = uuid.uuid4(), now + timedelta(seconds=lifetime)
    async with uow:
        await sales_repository.start_session(uow.connection, session_id, hash_key(key), now,
                                             expires_at)
        await uow.commit()
    response = _to("/sales")
    response.set_cookie(COOKIE, sessions.sign(_secret(request), session_id, expires_at),
                        max_age=int(lifetime), httponly=True, samesite="strict", path="/sales",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "",
                 uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """End the session for good (a copied cookie opens nothing afterwards)."""
    async with uow:
        session = await _session(request, uow)
        if session is not None and _post_allowed(request, session, csrf):
            await sales_repository.end_session(uow.connection, session.id)
            await uow.commit()
    response = _to("/sales/login")
    response.delete_cookie(COOKIE, path="/sales")
    return response


# --- queues --------------------------------------------------------------------------------


def _rows(rows: list[Any], now: datetime) -> list[dict[str, Any]]:
    """Queue rows as the templates show them, each with its time left."""
    shown = []
    for row in rows:
        left, overdue = time_left(row.sla_deadline, now)
        name = " ".join(p for p in (row.first_name, row.last_name) if p) or row.lead_email
        shown.append({"row": row, "name": name, "left": left, "overdue": overdue})
    return shown


@router.get("", response_class=HTMLResponse)
async def my_queue(request: Request, uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """The leads the rep holds, soonest SLA deadline first, with the time left (a key bound to
    no rep: every open lead)."""
    async with uow:
        session = await _session(request, uow)
        if session is None:
            return _to("/sales/login")
        viewer = session.viewer
        where = [repository.held_by(viewer.rep_id) if viewer.rep_id is not None
                 else repository.held_by_any_rep()]
        rows = await repository.assignment_page(uow.connection, where, None, QUEUE_ROWS)
    return _render("queue.html", title="My queue", session=session,
                   rows=_rows(rows[:QUEUE_ROWS], datetime.now(UTC)))


@router.get("/team", response_class=HTMLResponse)
async def team_queues(request: Request, uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """A manager's view: each rep's queue in the team, and the fallback queue with assign."""
    async with uow:
        session = await _session(request, uow)
        if session is None:
            return _to("/sales/login")
        viewer = session.viewer
        if not viewer.manager and not viewer.sees_all:
            return _render("message.html", status.HTTP_403_FORBIDDEN, title="Team",
                           session=session, message="Only a manager sees the team's queues.")
        held = [repository.held_by_any_rep()]
        teams = None if viewer.sees_all else sorted(viewer.teams)
        if viewer.rep_id is not None:
            held.append(repository.visible_to(viewer.rep_id, sorted(viewer.teams),
                                              sorted(viewer.reports)))
        team_rows = await repository.assignment_page(uow.connection, held, None, QUEUE_ROWS)
        queued = await repository.assignment_page(uow.connection, [repository.queued_in(teams)],
                                                  None, QUEUE_ROWS)
        tables = await routing_tables(uow.connection)
    now = datetime.now(UTC)
    by_rep: dict[str, list[dict[str, Any]]] = {}
    for shown in _rows(team_rows[:QUEUE_ROWS], now):
        by_rep.setdefault(shown["row"].rep_name or "?", []).append(shown)
    assignable = sorted(((rep.id, f"{rep.name} ({rep.team})") for rep in tables.reps
                         if rep.profile.active and viewer.may_assign_to(rep.id, rep.team)),
                        key=lambda pair: pair[1])
    waiting = [{**shown, "waited": time_left(shown["row"].handed_off_at, now)[0]
                .replace("overdue ", "").replace(" left", "")}
               for shown in _rows(queued[:QUEUE_ROWS], now)]
    return _render("team.html", title="Team", session=session, by_rep=sorted(by_rep.items()),
                   queued=waiting, assignable=assignable, error=None)


# --- a lead --------------------------------------------------------------------------------


async def _lead_page(request: Request, uow: UnitOfWork, session: Session, lead_id: UUID,
                     error: str | None = None, status_code: int = 200) -> Response:
    async with uow:
        current = await repository.current_assignment_of(uow.connection, lead_id)
        lead = await repository.get_lead(uow.connection, lead_id)
    if current is None or lead is None or not session.viewer.may_see(current.rep_id,
                                                                    current.team):
        return _render("message.html", status.HTTP_404_NOT_FOUND, title="Lead", session=session,
                       message="No lead you may see has this id.")
    story = await lead_story(settings_of(runtime_of(request), HandoffSettings), lead_id)
    left, overdue = time_left(current.sla_deadline, datetime.now(UTC))
    return _render("lead.html", status_code, title=lead.email, session=session, a=current,
                   profile=lead.context.get("profile", {}), lead=lead, story=story, left=left,
                   overdue=overdue, error=error, reasons=[r.value for r in RejectionReason],
                   entries=list(reversed(story.entries)))


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
async def lead_page(lead_id: UUID, request: Request,
                    uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """The lead: profile, score and why, timeline (newest first), and what the rep can do."""
    async with uow:
        session = await _session(request, uow)
    if session is None:
        return _to("/sales/login")
    return await _lead_page(request, uow, session, lead_id)


@contextmanager
def _refusals() -> Iterator[list[str]]:
    """Collect why an action was refused (as the API would answer 403/404/409/422)."""
    reasons: list[str] = []
    try:
        yield reasons
    except SalesActionRefused as exc:
        reasons.append(str(exc) or "not allowed")


def _invalid(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "form"
    return f"{field}: {first['msg']}"


@router.post("/assignments/{assignment_id}/{action}")
async def act(assignment_id: UUID, action: str, request: Request,
              csrf: Annotated[str, Form(max_length=200)] = "",
              reason_code: Annotated[str | None, Form(max_length=50)] = None,
              note: Annotated[str | None, Form(max_length=2000)] = None,
              channel: Annotated[str | None, Form(max_length=50)] = None,
              uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Accept, reject (with a reason code) or record contact, then back to the lead page."""
    async with uow:
        session = await _session(request, uow)
        if session is None:
            return _to("/sales/login")
        row = await repository.get_assignment(uow.connection, assignment_id)
    if row is None or action not in ("accept", "reject", "contacted"):
        return _render("message.html", status.HTTP_404_NOT_FOUND, title="Lead", session=session,
                       message="No such assignment or action.")
    if not _post_allowed(request, session, csrf):
        return _render("message.html", status.HTTP_403_FORBIDDEN, title="Lead", session=session,
                       message="This form expired; open the lead again and retry.")
    try:
        rejection = RejectIn(reason_code=reason_code, note=note) if action == "reject" else None
        contact = ContactIn(channel=channel or None) if action == "contacted" else None
    except ValidationError as exc:
        return await _lead_page(request, uow, session, row.lead_id, _invalid(exc),
                                status.HTTP_422_UNPROCESSABLE_ENTITY)
    async with uow:
        with _refusals() as refused:
            if rejection is not None:
                await service.reject_assignment(uow, assignment_id, rejection.reason_code,
                                                rejection.note, session.viewer)
            elif contact is not None:
                await service.record_contact(uow, assignment_id, contact.channel,
                                             session.viewer)
            else:
                await service.accept_assignment(uow, assignment_id, session.viewer)
            await uow.commit()
    if refused:
        return await _lead_page(request, uow, session, row.lead_id, refused[0],
                                status.HTTP_409_CONFLICT)
    if action == "reject":
        wake_queue(runtime_of(request))  # the rep has room for one more
    return _to(f"/sales/leads/{row.lead_id}")


@router.post("/leads/{lead_id}/assign")
async def assign(lead_id: UUID, request: Request,
                 csrf: Annotated[str, Form(max_length=200)] = "",
                 rep_id: Annotated[str, Form(max_length=100)] = "",
                 reason: Annotated[str, Form(max_length=500)] = "",
                 uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """A manager assigns a lead (from the fallback queue, or from another rep) to a rep."""
    async with uow:
        session = await _session(request, uow)
    if session is None:
        return _to("/sales/login")
    if not _post_allowed(request, session, csrf):
        return _render("message.html", status.HTTP_403_FORBIDDEN, title="Team", session=session,
                       message="This form expired; open the team page again and retry.")
    try:
        chosen = AssignIn(rep_id=rep_id, reason=reason)  # type: ignore[arg-type]
    except ValidationError as exc:
        return _render("message.html", status.HTTP_422_UNPROCESSABLE_ENTITY, title="Team",
                       session=session, message=_invalid(exc))
    async with uow:
        with _refusals() as refused:
            await service.assign_manually(uow, lead_id, chosen.rep_id, chosen.reason,
                                          session.viewer,
                                          settings_of(runtime_of(request), HandoffSettings))
            await uow.commit()
    if refused:
        return _render("message.html", status.HTTP_409_CONFLICT, title="Team", session=session,
                       message=refused[0])
    wake_queue(runtime_of(request))
    return _to("/sales/team")
