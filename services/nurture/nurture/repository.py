"""Nurture's queries outside the consumer's batch (lead_queries) and the scheduler's
(send_queries): sequence versions, a lead's enrollments and messages, leads by address."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.pagination import Keyset
from nurture.domain import (
    Enrollment,
    EnrollmentStatus,
    Sequence,
)
from nurture.tables import enrollments, lead_states, messages, sequences

_ENROLLMENT_FIELDS = [c.name for c in enrollments.c if c.name != "updated_at"]

SEQUENCE_ORDER = Keyset((sequences.c.key, sequences.c.version), (str, int),
                        descending=(False, True))
"""Sequences are listed by key, newest version first within a key."""

ENROLLMENT_ORDER = Keyset((enrollments.c.enrolled_at, enrollments.c.id),
                          (datetime.fromisoformat, UUID))
"""A lead's enrollments are listed oldest first."""

MESSAGE_ORDER = Keyset((messages.c.sent_at, messages.c.id), (datetime.fromisoformat, UUID))
"""A lead's messages are listed oldest first."""


async def add_sequence_version(conn: AsyncConnection, sequence: Sequence) -> Sequence:
    """Store `sequence` as the next version of its key and make it the live one.

    The advisory lock serializes concurrent edits of one key, so versions never collide.
    """
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(sequence.key))))
    latest = (await conn.execute(
        select(func.coalesce(func.max(sequences.c.version), 0))
        .where(sequences.c.key == sequence.key)
    )).scalar_one()
    stored = sequence.model_copy(update={"version": latest + 1})
    await conn.execute(update(sequences).where(sequences.c.key == sequence.key, sequences.c.active)
                       .values(active=False))
    await conn.execute(insert(sequences).values(
        key=stored.key, version=stored.version, entry_rule=stored.entry_rule.value,
        steps=[s.model_dump(mode="json") for s in stored.steps], active=stored.active,
        settings=stored.settings))
    return stored


async def sequence_row(conn: AsyncConnection, key: str, version: int) -> Any:
    """One stored sequence version, or None."""
    return (await conn.execute(
        select(sequences).where(sequences.c.key == key, sequences.c.version == version)
    )).first()


async def set_sequence_active(conn: AsyncConnection, key: str, active: bool) -> bool:
    """Pause (or resume) the newest version of a sequence; False if the key is unknown."""
    newest = (select(func.max(sequences.c.version)).where(sequences.c.key == key)
              .scalar_subquery())
    result = await conn.execute(update(sequences)
                                .where(sequences.c.key == key, sequences.c.version == newest)
                                .values(active=active))
    return bool(result.rowcount)


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


async def messages_of(conn: AsyncConnection, lead_id: UUID, cursor: str | None,
                      limit: int) -> list[Any]:
    """A page of the messages a lead was sent, oldest first (limit + 1 rows:
    MESSAGE_ORDER.page cuts it)."""
    return list(await conn.execute(MESSAGE_ORDER.select(
        select(messages).where(messages.c.lead_id == lead_id), cursor, limit)))


async def all_sequences(conn: AsyncConnection, cursor: str | None, limit: int) -> list[Any]:
    """A page of every version of every sequence, by key, newest version first within a key
    (limit + 1 rows: SEQUENCE_ORDER.page cuts it)."""
    return list(await conn.execute(SEQUENCE_ORDER.select(select(sequences), cursor, limit)))


async def active_enrollments_for_update(conn: AsyncConnection, lead_id: UUID) -> list[Enrollment]:
    """A lead's active enrollments, locked so the step scheduler cannot advance them meanwhile."""
    rows = await conn.execute(
        select(*(enrollments.c[name] for name in _ENROLLMENT_FIELDS))
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
        select(*(enrollments.c[name] for name in _ENROLLMENT_FIELDS))
        .where(enrollments.c.lead_id == lead_id), cursor, limit))
    return [Enrollment.model_validate(row._asdict()) for row in rows]
