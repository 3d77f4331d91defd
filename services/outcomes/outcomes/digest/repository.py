"""The digests table: the durable schedule and the digests it produced."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from outcomes.digest.schedule import DigestPeriod
from outcomes.tables import digest_recipients, digests


@dataclass(frozen=True, slots=True)
class DigestRow:
    """One period's row."""

    period: str
    schedule: str
    period_start: datetime
    period_end: datetime
    due_at: datetime
    status: str
    content: dict[str, Any] | None
    composed_at: datetime | None
    recipients: dict[str, Any] | None
    sent_at: datetime | None
    attempts: int
    last_error: str | None


_COLUMNS = [digests.c[name] for name in DigestRow.__dataclass_fields__]


async def schedule_period(conn: AsyncConnection, schedule: str, period: DigestPeriod,
                          due_at: datetime) -> bool:
    """Make sure the period has its row, due at `due_at`; True when this call made it. Every
    replica calls this; the period is the primary key, so there is only ever one row per
    period and the first one wins."""
    made = await conn.scalar(
        pg_insert(digests).values(period=period.key, schedule=schedule,
                                  period_start=period.start, period_end=period.end,
                                  due_at=due_at)
        .on_conflict_do_nothing(index_elements=[digests.c.period]).returning(digests.c.period))
    return made is not None


async def claim_due(conn: AsyncConnection, schedule: str, now: datetime) -> DigestRow | None:
    """The oldest due digest of this schedule, locked until the transaction ends; rows another
    replica holds are skipped (FOR UPDATE SKIP LOCKED). A worker claims only its own schedule,
    so during a configuration change no digest goes out under the other one's settings."""
    row = (await conn.execute(
        select(*_COLUMNS)
        .where(digests.c.schedule == schedule, digests.c.status.in_(("scheduled", "composed")),
               digests.c.due_at <= now)
        .order_by(digests.c.due_at).limit(1).with_for_update(skip_locked=True)
    )).one_or_none()
    return None if row is None else DigestRow(**row._mapping)


async def save(conn: AsyncConnection, period: str, **values: Any) -> None:
    """Store what an attempt did (content, recipients' state, status, retry time)."""
    await conn.execute(update(digests).where(digests.c.period == period).values(**values))


async def get(conn: AsyncConnection, period: str) -> DigestRow | None:
    """One period's row, or None."""
    row = (await conn.execute(select(*_COLUMNS).where(digests.c.period == period))).one_or_none()
    return None if row is None else DigestRow(**row._mapping)


async def latest(conn: AsyncConnection) -> DigestRow | None:
    """The composed digest of the most recent period, or None."""
    row = (await conn.execute(
        select(*_COLUMNS).where(digests.c.content.is_not(None))
        .order_by(digests.c.period_end.desc(), digests.c.period).limit(1))).one_or_none()
    return None if row is None else DigestRow(**row._mapping)


async def listing(conn: AsyncConnection, limit: int,
                  before: Sequence[Any] | None = None) -> list[DigestRow]:
    """Period rows, newest first (by period end, then key descending), after the cursor's."""
    query = select(*_COLUMNS).order_by(digests.c.period_end.desc(), digests.c.period.desc())
    if before is not None:
        query = query.where(tuple_(digests.c.period_end, digests.c.period) < tuple_(*before))
    rows = await conn.execute(query.limit(limit))
    return [DigestRow(**row._mapping) for row in rows]


# --- recipients ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    """An address that gets one team's digest."""

    team: str
    email: str
    created_at: datetime


async def recipient_emails(conn: AsyncConnection) -> list[str]:
    """Every team's digest recipients, each address once, in the order they were added."""
    rows = await conn.execute(select(digest_recipients.c.email)
                              .order_by(digest_recipients.c.created_at, digest_recipients.c.email))
    return list(dict.fromkeys(row.email for row in rows))


async def recipient_page(conn: AsyncConnection, team: str | None,
                         after: Sequence[Any] | None, limit: int) -> list[Recipient]:
    """Recipients (of one team) by team then address, after the cursor's; limit rows."""
    c = digest_recipients.c
    query = select(digest_recipients).order_by(c.team, c.email).limit(limit)
    if team is not None:
        query = query.where(c.team == team)
    if after is not None:
        query = query.where(tuple_(c.team, c.email) > tuple_(*after))
    return [Recipient(**row._mapping) for row in await conn.execute(query)]


async def add_recipient(conn: AsyncConnection, team: str, email: str) -> tuple[Recipient, bool]:
    """Add an address to a team's digest; (row, whether it is new)."""
    made = (await conn.execute(
        pg_insert(digest_recipients).values(team=team, email=email)
        .on_conflict_do_nothing().returning(*digest_recipients.c))).one_or_none()
    if made is not None:
        return Recipient(**made._mapping), True
    row = (await conn.execute(select(digest_recipients).where(
        digest_recipients.c.team == team, digest_recipients.c.email == email))).one()
    return Recipient(**row._mapping), False


async def remove_recipient(conn: AsyncConnection, team: str, email: str) -> bool:
    """Remove an address from a team's digest; False when it was not there."""
    gone = await conn.scalar(delete(digest_recipients).where(
        digest_recipients.c.team == team, digest_recipients.c.email == email)
        .returning(digest_recipients.c.email))
    return gone is not None
