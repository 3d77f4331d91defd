"""Queries on the durable SLA timers: a batch of them is claimed, reminded, marked fired or
deferred in one statement each (the last three as SQL text on the transaction's asyncpg
connection, like routing's)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.assignments.repository import AssignmentRecord
from handoff.sla.domain import TimerKind
from handoff.tables import assignments, sla_timers
from leadloop.db import UnitOfWork


@dataclass(frozen=True, slots=True)
class DueTimer(AssignmentRecord):
    """A due SLA timer with the assignment it watches (the assignment's columns)."""

    timer_id: int
    kind: str
    due_at: datetime
    rounds: int


async def claim_due(conn: AsyncConnection, now: datetime, limit: int, *,
                    mails_only: bool = False) -> list[DueTimer]:
    """Up to `limit` unfired due timers with their assignments, most overdue first, all
    row-locked in one statement (only queue-alert emails with `mails_only`). SKIP
    LOCKED: timers another replica holds, or whose assignment a sales action holds, wait for
    the next round instead of blocking (and never fire twice)."""
    rows = await conn.execute(
        select(sla_timers.c.id.label("timer_id"), sla_timers.c.kind, sla_timers.c.due_at,
               sla_timers.c.rounds, *assignments.c)
        .join(assignments, assignments.c.id == sla_timers.c.assignment_id)
        .where(sla_timers.c.fired_at.is_(None), sla_timers.c.due_at <= now,
               *([sla_timers.c.kind == TimerKind.queue_alert_mail.value] if mails_only else []))
        .order_by(sla_timers.c.due_at, sla_timers.c.id)
        .limit(limit)
        .with_for_update(of=[sla_timers, assignments], skip_locked=True)
    )
    return [DueTimer(**row._mapping) for row in rows]


_REMINDED = """
UPDATE assignments AS a SET reminded_at = $2, updated_at = now()
FROM unnest($1::uuid[]) AS t(id) WHERE a.id = t.id
"""

_FIRED = """
UPDATE sla_timers AS s SET fired_at = $2
FROM unnest($1::bigint[]) AS t(id) WHERE s.id = t.id
"""

_DEFERRED = """
UPDATE sla_timers AS s SET due_at = $2, attempts = s.attempts + 1, last_error = left(t.error, 2000)
FROM unnest($1::bigint[], $3::text[]) AS t(id, error) WHERE s.id = t.id
"""


async def mark_reminded(uow: UnitOfWork, assignment_ids: Sequence[UUID], now: datetime) -> None:
    """These assignments' reps were reminded at `now` (one statement)."""
    if assignment_ids:
        await (await uow.driver()).execute(_REMINDED, list(assignment_ids), now)


async def mark_fired(uow: UnitOfWork, timer_ids: Sequence[int], now: datetime) -> None:
    """These timers have done their work, in this transaction (one statement)."""
    if timer_ids:
        await (await uow.driver()).execute(_FIRED, list(timer_ids), now)


async def defer(uow: UnitOfWork, errors: Mapping[int, str], until: datetime) -> None:
    """Firing these timers failed (timer id: the error): try them again at `until`, one
    attempt more, each with its error recorded (one statement)."""
    if errors:
        ids = sorted(errors)
        await (await uow.driver()).execute(_DEFERRED, ids, until, [errors[i] for i in ids])


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
