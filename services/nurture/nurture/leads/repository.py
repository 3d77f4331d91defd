"""Nurture's lead queries. The consumer's batch: lead states and active enrollments loaded with
one statement per table, and what the batch decided written with one set-based statement per
table, as SQL text for the transaction's asyncpg connection (prepared once per connection):
arrays go in as lists, JSON as text cast to jsonb. Then the HTTP routes' reads of one lead: its
enrollments and messages, the lead a message went to, the leads with an address.
"""

from collections.abc import Sequence as Seq
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from sqlalchemy import Boolean, Column, DateTime, Integer, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.pagination import Keyset
from nurture.leads.changes import Engaged
from nurture.leads.domain import Enrollment, EnrollmentStatus, LeadState, Message
from nurture.tables import enrollments, lead_states, messages

_STATE_COLUMNS = [c for c in lead_states.c if c.name != "updated_at"]
_ENROLLMENT_COLUMNS = [c for c in enrollments.c if c.name != "updated_at"]
_ENROLLMENT_NAMES = [c.name for c in _ENROLLMENT_COLUMNS]


def _array_type(column: Column[Any]) -> str:
    """The PostgreSQL array type a column's values are sent as (JSON goes as text)."""
    for python_type, name in ((PgUUID, "uuid"), (DateTime, "timestamptz"), (Boolean, "bool"),
                              (Integer, "int4"), (JSONB, "text"), (Text, "text")):
        if isinstance(column.type, python_type):
            return f"{name}[]"
    raise TypeError(f"no array type for {column}")  # pragma: no cover


def _unnest(columns: Seq[Column[Any]]) -> str:
    """`unnest($1::uuid[], ...) AS t(a, ...)`: one row per element of the parallel arrays."""
    arrays = ", ".join(f"${n}::{_array_type(c)}" for n, c in enumerate(columns, start=1))
    return f"unnest({arrays}) AS t({', '.join(c.name for c in columns)})"


def _value(column: Column[Any]) -> str:
    return f"t.{column.name}::jsonb" if isinstance(column.type, JSONB) else f"t.{column.name}"


def _readable(column: Column[Any]) -> str:
    return f"{column.name}::text AS {column.name}" if isinstance(column.type, JSONB) \
        else column.name


# A no-op update on conflict locks each row and returns its latest committed version; rows are
# locked in lead-id order, so two batches never deadlock.
_LOCK_STATES = (
    "INSERT INTO lead_states (lead_id) SELECT id FROM unnest($1::uuid[]) AS t(id) ORDER BY id "
    "ON CONFLICT (lead_id) DO UPDATE SET lead_id = excluded.lead_id "
    f"RETURNING {', '.join(_readable(c) for c in _STATE_COLUMNS)}")

_SAVE_STATES = (
    "UPDATE lead_states AS s SET "
    + ", ".join(f"{c.name} = {_value(c)}" for c in _STATE_COLUMNS if c.name != "lead_id")
    + f", updated_at = now() FROM {_unnest(_STATE_COLUMNS)} WHERE s.lead_id = t.lead_id")

_ACTIVE_ENROLLMENTS = (
    f"SELECT {', '.join(c.name for c in _ENROLLMENT_COLUMNS)} FROM enrollments "
    "WHERE lead_id = ANY($1::uuid[]) AND status = 'active' "
    "ORDER BY lead_id, enrolled_at, sequence_key FOR UPDATE")

# A lead runs a sequence at most once at a time (enrollments_one_active_per_sequence).
_INSERT_ENROLLMENTS = (
    f"INSERT INTO enrollments ({', '.join(c.name for c in _ENROLLMENT_COLUMNS)}) "
    f"SELECT * FROM {_unnest(_ENROLLMENT_COLUMNS)} ON CONFLICT DO NOTHING")

_MOVED = [enrollments.c[name] for name in ("id", "status", "next_step_due_at", "exit_reason",
                                           "exited_at")]
_MOVE_ENROLLMENTS = (
    "UPDATE enrollments AS e SET status = t.status, next_step_due_at = t.next_step_due_at, "
    "exit_reason = t.exit_reason, exited_at = t.exited_at, updated_at = now() "
    f"FROM {_unnest(_MOVED)} WHERE e.id = t.id")

_INSERT_ENGAGEMENTS = (
    "INSERT INTO engagements (id, lead_id, kind, url, message_id, occurred_at) "
    "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], "
    "$6::timestamptz[]) ON CONFLICT DO NOTHING")

_FORGET_LEADS = (
    "WITH gone_enrollments AS (DELETE FROM enrollments WHERE lead_id = ANY($1::uuid[])), "
    "gone_engagements AS (DELETE FROM engagements WHERE lead_id = ANY($1::uuid[])) "
    "DELETE FROM messages WHERE lead_id = ANY($1::uuid[])")


def _state(row: asyncpg.Record) -> LeadState:
    values = dict(row)
    for column in _STATE_COLUMNS:
        if isinstance(column.type, JSONB) and values[column.name] is not None:
            values[column.name] = orjson.loads(values[column.name])
    return LeadState.model_validate(values)


async def lock_lead_states(driver: asyncpg.Connection,
                           lead_ids: Seq[UUID]) -> dict[UUID, LeadState]:
    """The leads' states (empty rows made for new leads), locked until the transaction ends.

    Every handler takes these locks first, so events about one lead that arrive on different
    topics and are handled by different replicas apply one after the other, and the scheduler
    (which claims with SKIP LOCKED) never sends to a lead whose exit is being applied.
    """
    rows = await driver.fetch(_LOCK_STATES, sorted(set(lead_ids)))
    return {row["lead_id"]: _state(row) for row in rows}


async def active_enrollments(driver: asyncpg.Connection,
                             lead_ids: Seq[UUID]) -> list[Enrollment]:
    """The leads' active enrollments, locked so the scheduler cannot advance them meanwhile."""
    rows = await driver.fetch(_ACTIVE_ENROLLMENTS, list(lead_ids))
    return [Enrollment.model_validate(dict(row)) for row in rows]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def save_lead_states(driver: asyncpg.Connection, states: Seq[LeadState]) -> None:
    """Store lead states (their rows exist: `lock_lead_states` made them)."""
    if not states:
        return
    dumped = [state.model_dump() for state in states]
    await driver.execute(_SAVE_STATES, *(
        [_json(d[c.name]) if isinstance(c.type, JSONB) else d[c.name] for d in dumped]
        for c in _STATE_COLUMNS))


async def insert_enrollments(driver: asyncpg.Connection, new: Seq[Enrollment]) -> None:
    """Insert new enrollments; one the lead already runs is skipped."""
    if new:
        await driver.execute(_INSERT_ENROLLMENTS, *(
            [getattr(e, c.name) for e in new] for c in _ENROLLMENT_COLUMNS))


async def move_enrollments(driver: asyncpg.Connection, moved: Seq[Enrollment]) -> None:
    """Store the status, due time and exit of enrollments that exited or were woken."""
    if moved:
        await driver.execute(_MOVE_ENROLLMENTS, *(
            [getattr(e, c.name) for e in moved] for c in _MOVED))


async def insert_engagements(driver: asyncpg.Connection, done: Seq[Engaged]) -> None:
    """Remember what leads did (branches read it); a replay is ignored."""
    if done:
        await driver.execute(_INSERT_ENGAGEMENTS, [e.id for e in done],
                             [e.lead_id for e in done], [e.kind for e in done],
                             [e.url for e in done], [e.message_id for e in done],
                             [e.at for e in done])


async def forget_leads(driver: asyncpg.Connection, lead_ids: Seq[UUID]) -> None:
    """Delete erased leads' enrollments, messages and engagements."""
    if lead_ids:
        await driver.execute(_FORGET_LEADS, list(lead_ids))


# --- one lead at a time: the HTTP routes' reads ----------------------------------------

ENROLLMENT_ORDER = Keyset((enrollments.c.enrolled_at, enrollments.c.id),
                          (datetime.fromisoformat, UUID))
"""A lead's enrollments are listed oldest first."""

MESSAGE_ORDER = Keyset((messages.c.sent_at, messages.c.id.label("message_id")),
                       (datetime.fromisoformat, UUID))
"""A lead's messages are listed oldest first (the id read back as `message_id`)."""


async def message_lead(conn: AsyncConnection, message_id: UUID) -> UUID | None:
    """The lead a message went to, or None."""
    return (await conn.execute(select(messages.c.lead_id).where(messages.c.id == message_id))
            ).scalar_one_or_none()


async def message_link(conn: AsyncConnection, message_id: UUID,
                       link: int) -> tuple[UUID, str] | None:
    """The lead a message went to and the target of its link number `link`, or None when
    there is no such message or link."""
    row = (await conn.execute(
        select(messages.c.lead_id, messages.c.links[link].astext.label("url"))
        .where(messages.c.id == message_id))).one_or_none()
    if row is None or row.url is None:
        return None
    return row.lead_id, row.url


async def leads_with_email(conn: AsyncConnection, email: str) -> list[UUID]:
    """Every (not erased) lead whose address is `email`, case-insensitively."""
    rows = await conn.execute(
        select(lead_states.c.lead_id)
        .where(func.lower(lead_states.c.email) == email.strip().lower(),
               lead_states.c.erased_at.is_(None))
        .order_by(lead_states.c.lead_id))
    return [row.lead_id for row in rows]


_MESSAGE_COLUMNS = [messages.c.id.label("message_id"),
                    *(messages.c[name] for name in Message.model_fields if name != "message_id")]


async def messages_of(conn: AsyncConnection, lead_id: UUID, cursor: str | None,
                      limit: int) -> list[Message]:
    """A page of the messages a lead was sent, oldest first (limit + 1 rows:
    MESSAGE_ORDER.page cuts it)."""
    rows = await conn.execute(MESSAGE_ORDER.select(
        select(*_MESSAGE_COLUMNS).where(messages.c.lead_id == lead_id), cursor, limit))
    return [Message.model_validate(row._asdict()) for row in rows]


async def lead_state(conn: AsyncConnection, lead_id: UUID) -> LeadState | None:
    """What nurture knows of one lead, or None when it knows nothing."""
    row = (await conn.execute(select(*_STATE_COLUMNS)
                              .where(lead_states.c.lead_id == lead_id))).first()
    return None if row is None else LeadState.model_validate(row._asdict())


async def active_enrollments_for_update(conn: AsyncConnection, lead_id: UUID) -> list[Enrollment]:
    """A lead's active enrollments, locked so the step scheduler cannot advance them meanwhile."""
    rows = await conn.execute(
        select(*(enrollments.c[name] for name in _ENROLLMENT_NAMES))
        .where(enrollments.c.lead_id == lead_id,
               enrollments.c.status == EnrollmentStatus.active.value)
        .with_for_update()
    )
    return [Enrollment.model_validate(row._asdict()) for row in rows]


async def enrollments_of(conn: AsyncConnection, lead_id: UUID, cursor: str | None,
                         limit: int) -> list[Enrollment]:
    """A page of a lead's enrollments, oldest first (limit + 1 rows: ENROLLMENT_ORDER.page
    cuts it)."""
    rows = await conn.execute(ENROLLMENT_ORDER.select(
        select(*(enrollments.c[name] for name in _ENROLLMENT_NAMES))
        .where(enrollments.c.lead_id == lead_id), cursor, limit))
    return [Enrollment.model_validate(row._asdict()) for row in rows]
