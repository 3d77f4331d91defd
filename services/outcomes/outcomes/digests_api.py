"""Digest routes (scope reports:read): the latest digest, past ones, and one period's."""

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from outcomes import digest_queries
from outcomes.digest import Digest
from outcomes.digest_queries import DigestRow

router = APIRouter(prefix="/v1", tags=["digests"])
_reports = [Depends(require_scope("reports:read"))]


class DigestOut(BaseModel):
    """One period's digest: when it was due, whether it went out, and its figures."""

    period: str
    schedule: str
    start: datetime
    end: datetime
    status: str = Field(description="scheduled, composed (mail pending), sent, failed, or "
                        "no_recipients (composed; nobody was configured to get it)")
    due_at: datetime = Field(description="when it is (next) due to be composed or sent")
    composed_at: datetime | None
    sent_at: datetime | None
    attempts: int = Field(description="SMTP attempts made")
    delivered: int = Field(description="recipients the mail server accepted it for")
    pending: int = Field(description="recipients still to try")
    refused: int = Field(description="recipients refused for good")
    last_error: str | None
    digest: Digest | None = Field(description="null until composed (and in listings)")

    @classmethod
    def of(cls, row: DigestRow, with_content: bool = True) -> "DigestOut":
        """The API view of a digest row."""
        recipients = row.recipients or {}
        return cls(
            period=row.period, schedule=row.schedule, start=row.period_start,
            end=row.period_end, status=row.status, due_at=row.due_at,
            composed_at=row.composed_at, sent_at=row.sent_at, attempts=row.attempts,
            delivered=len(recipients.get("delivered", [])),
            pending=len(recipients.get("pending", [])),
            refused=len(recipients.get("refused", {})), last_error=row.last_error,
            digest=Digest.model_validate(row.content) if with_content and row.content else None,
        )


@router.get("/digests", response_model=list[DigestOut], dependencies=_reports)
async def list_digests(limit: int = Query(default=52, ge=1, le=1000),
                       uow: UnitOfWork = Depends(unit_of_work)) -> list[DigestOut]:
    """Every period's digest, newest first, without the figures (GET one for those)."""
    async with uow:
        rows = await digest_queries.listing(uow.connection, limit)
    return [DigestOut.of(row, with_content=False) for row in rows]


@router.get("/digests/latest", response_model=DigestOut, dependencies=_reports)
async def latest_digest(uow: UnitOfWork = Depends(unit_of_work)) -> DigestOut:
    """The most recent period's composed digest."""
    async with uow:
        row = await digest_queries.latest(uow.connection)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no digest has been composed yet")
    return DigestOut.of(row)


@router.get("/digests/{period}", response_model=DigestOut, dependencies=_reports)
async def get_digest(period: str, uow: UnitOfWork = Depends(unit_of_work)) -> DigestOut:
    """One period's digest, e.g. 2026-W48."""
    async with uow:
        row = await digest_queries.get(uow.connection, period)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no digest for this period")
    return DigestOut.of(row)
