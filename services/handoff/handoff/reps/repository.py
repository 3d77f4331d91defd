"""Queries about reps: each with the number of open leads it holds."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.assignments.domain import HELD_BY_REP
from handoff.exceptions import DuplicateRepEmail
from handoff.tables import assignments, reps

_HELD = [status.value for status in HELD_BY_REP]


@dataclass(frozen=True, slots=True)
class RepRow:
    """A stored rep and how many open leads it holds (waiting for acceptance or accepted)."""

    id: UUID
    name: str
    email: str
    team: str
    capacity: int
    weight: int
    active: bool
    created_at: datetime
    updated_at: datetime
    manager_id: UUID | None
    territories: list[str]
    segments: list[str]
    named_accounts: list[str]
    working_hours: dict[str, Any] | None
    out_of_office_from: datetime | None
    out_of_office_to: datetime | None
    open_assignments: int


def _reps_with_load() -> Select[Any]:
    held = (
        select(func.count())
        .where(assignments.c.rep_id == reps.c.id, assignments.c.status.in_(_HELD))
        .scalar_subquery()
    )
    return select(*reps.c, held.label("open_assignments"))


async def insert_rep(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Insert a rep; False when its email is taken (race-free: the unique index decides)."""
    inserted = await conn.scalar(
        insert(reps).values(**values)
        .on_conflict_do_nothing(index_elements=[reps.c.email])
        .returning(reps.c.id)
    )
    return inserted is not None


async def get_rep(conn: AsyncConnection, rep_id: UUID) -> RepRow | None:
    """A rep and how many open leads it holds, or None."""
    row = (await conn.execute(_reps_with_load().where(reps.c.id == rep_id))).one_or_none()
    return None if row is None else RepRow(**row._mapping)


async def list_reps(conn: AsyncConnection, team: str | None, after: list[Any] | None = None,
                    limit: int | None = None) -> list[RepRow]:
    """Reps (of `team`, if given) in rotation order after the key `after` (team, created_at,
    id), at most `limit`, with open lead counts."""
    order = (reps.c.team, reps.c.created_at, reps.c.id)
    statement = _reps_with_load().order_by(*order).limit(limit)
    if team is not None:
        statement = statement.where(reps.c.team == team)
    if after is not None:
        statement = statement.where(tuple_(*order) > tuple_(*after))
    return [RepRow(**row._mapping) for row in await conn.execute(statement)]


async def update_rep(conn: AsyncConnection, rep_id: UUID, changes: dict[str, Any]) -> bool:
    """Apply `changes` to a rep; False when there is no such rep."""
    try:
        updated = await conn.scalar(
            update(reps).where(reps.c.id == rep_id)
            .values(**changes, updated_at=func.now())
            .returning(reps.c.id)
        )
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == "23505":  # unique_violation: the email
            raise DuplicateRepEmail from exc
        raise
    return updated is not None


