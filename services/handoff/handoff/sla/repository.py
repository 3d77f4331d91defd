"""Queries on the durable SLA timers."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.assignments.repository import AssignmentRecord
from handoff.tables import assignments, sla_timers


@dataclass(frozen=True, slots=True)
class DueTimer(AssignmentRecord):
    """A due SLA timer with the assignment it watches (the assignment's columns)."""

    timer_id: int
    kind: str
    due_at: datetime
    rounds: int


async def claim_due(conn: AsyncConnection, now: datetime) -> DueTimer | None:
    """The most overdue unfired timer and its assignment, both row-locked; None when nothing
    is due. SKIP LOCKED: timers another replica holds, or whose assignment a sales action
    holds, wait for the next round instead of blocking (and never fire twice)."""
    row = (await conn.execute(
        select(sla_timers.c.id.label("timer_id"), sla_timers.c.kind, sla_timers.c.due_at,
               sla_timers.c.rounds, *assignments.c)
        .join(assignments, assignments.c.id == sla_timers.c.assignment_id)
        .where(sla_timers.c.fired_at.is_(None), sla_timers.c.due_at <= now)
        .order_by(sla_timers.c.due_at)
        .limit(1)
        .with_for_update(of=[sla_timers, assignments], skip_locked=True)
    )).one_or_none()
    return None if row is None else DueTimer(**row._mapping)


async def mark_fired(conn: AsyncConnection, timer_id: int, now: datetime) -> None:
    """The timer has done its work (in this transaction)."""
    await conn.execute(update(sla_timers).where(sla_timers.c.id == timer_id)
                       .values(fired_at=now))


async def defer(conn: AsyncConnection, timer_id: int, until: datetime, error: str) -> None:
    """Firing failed: try again at `until`."""
    await conn.execute(update(sla_timers).where(sla_timers.c.id == timer_id)
                       .values(due_at=until, attempts=sla_timers.c.attempts + 1,
                               last_error=error[:2000]))



async def rearm(conn: AsyncConnection, timer_id: int, due_at: datetime) -> None:
    """A repeating timer (queue alerts) is due again at `due_at`, one round further."""
    await conn.execute(update(sla_timers).where(sla_timers.c.id == timer_id)
                       .values(due_at=due_at, rounds=sla_timers.c.rounds + 1, attempts=0,
                               last_error=None))


async def schedule(conn: AsyncConnection, assignment_id: UUID, kind: str, due_at: datetime
                   ) -> None:
    """The assignment's timer of this kind is due (again) at `due_at`, unfired."""
    statement = insert(sla_timers).values(assignment_id=assignment_id, kind=kind, due_at=due_at)
    await conn.execute(statement.on_conflict_do_update(
        constraint="sla_timers_one_per_kind",
        set_={"due_at": due_at, "fired_at": None, "attempts": 0, "last_error": None}))
