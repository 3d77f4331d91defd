"""Digest routes: the latest digest, past ones, and one period's (scope reports:read); who gets
it per team, and sending one now (scope admin)."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from leadloop.app import runtime_of, settings_of, unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import Page, cursor_query, limit_query, page_of, parse_cursor
from outcomes.config import OutcomesSettings
from outcomes.digest import repository as digest_queries
from outcomes.digest import worker as digest_worker
from outcomes.digest.schedule import parse_schedule
from outcomes.digest.schemas import DigestOut, RecipientIn, RecipientOut, Team
from outcomes.exceptions import found

router = APIRouter(prefix="/v1", tags=["digests"])
_reports = [Depends(require_scope("reports:read"))]
_admin = [Depends(require_scope("admin"))]


@router.get("/digests", response_model=Page[DigestOut], dependencies=_reports)
async def list_digests(limit: int = limit_query(), cursor: str | None = cursor_query(),
                       uow: UnitOfWork = Depends(unit_of_work)) -> Page[DigestOut]:
    """Every period's digest, newest first, without the figures (GET one for those)."""
    before = parse_cursor(cursor, (datetime.fromisoformat, str))  # (period_end, period)
    async with uow:
        rows = await digest_queries.listing(uow.connection, limit + 1, before)
    kept, next_cursor = page_of(rows, limit,
                                lambda row: [row.period_end.isoformat(), row.period])
    return Page[DigestOut](items=[DigestOut.of(row, with_content=False) for row in kept],
                           next_cursor=next_cursor)


@router.get("/digests/latest", response_model=DigestOut, dependencies=_reports)
async def latest_digest(uow: UnitOfWork = Depends(unit_of_work)) -> DigestOut:
    """The most recent period's composed digest."""
    async with uow:
        row = await digest_queries.latest(uow.connection)
    return DigestOut.of(found(row, "no digest has been composed yet"))


@router.get("/digests/{period}", response_model=DigestOut, dependencies=_reports)
async def get_digest(period: str, uow: UnitOfWork = Depends(unit_of_work)) -> DigestOut:
    """One period's digest, e.g. 2026-W48."""
    async with uow:
        row = await digest_queries.get(uow.connection, period)
    return DigestOut.of(found(row, "no digest for this period"))


@router.post("/digests/send-now", response_model=DigestOut, status_code=status.HTTP_201_CREATED,
             dependencies=_admin,
             responses={409: {"description": "a digest was sent within the same millisecond"}})
async def send_digest_now(request: Request,
                          uow: UnitOfWork = Depends(unit_of_work)) -> DigestOut:
    """Compose the digest of the current period so far (against the previous period) and mail
    it now to every recipient; `status` says what happened (sent, composed with recipients
    still pending a retry, or no_recipients when nobody is configured)."""
    settings = settings_of(runtime_of(request), OutcomesSettings)
    async with uow:
        row = await digest_worker.send_now(uow, parse_schedule(settings.digest_schedule),
                                           settings)
        await uow.commit()
    return DigestOut.of(row)


# --- recipients ----------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A cursor value that is text as it stands (a team or an address), never made into one."""
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    return value


@router.get("/digest-recipients", response_model=Page[RecipientOut], dependencies=_admin)
async def list_recipients(team: Team | None = Query(default=None),
                          limit: int = limit_query(), cursor: str | None = cursor_query(),
                          uow: UnitOfWork = Depends(unit_of_work)) -> Page[RecipientOut]:
    """Who gets the digest, by team then address (LEADLOOP_OUTCOMES_DIGEST_RECIPIENTS too,
    though it is not listed here)."""
    after = parse_cursor(cursor, (_text, _text))  # (team, email)
    async with uow:
        rows = await digest_queries.recipient_page(uow.connection, team, after, limit + 1)
    kept, next_cursor = page_of(rows, limit, lambda row: [row.team, row.email])
    return Page[RecipientOut](items=[RecipientOut.of(row) for row in kept],
                              next_cursor=next_cursor)


@router.post("/digest-recipients", response_model=RecipientOut,
             status_code=status.HTTP_201_CREATED, dependencies=_admin,
             responses={200: {"model": RecipientOut, "description": "already a recipient"}})
async def add_recipient(recipient: RecipientIn, response: Response,
                        uow: UnitOfWork = Depends(unit_of_work)) -> RecipientOut:
    """Add an address to a team's digest (adding it again changes nothing: 200)."""
    async with uow:
        row, new = await digest_queries.add_recipient(uow.connection, recipient.team,
                                                      recipient.email)
        await uow.commit()
    if not new:
        response.status_code = status.HTTP_200_OK
    return RecipientOut.of(row)


@router.delete("/digest-recipients/{team}/{email}", status_code=status.HTTP_204_NO_CONTENT,
               dependencies=_admin,
               responses={404: {"description": "not a recipient of this team's digest"}})
async def remove_recipient(team: Team, email: str,
                           uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Stop sending the digest to an address for one team."""
    async with uow:
        gone = await digest_queries.remove_recipient(uow.connection, team,
                                                     email.strip().lower())
        await uow.commit()
    if not gone:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            "this address does not get this team's digest")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
