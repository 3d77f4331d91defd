"""Nurture's queries outside the consumer's batch (lead_queries) and the scheduler's
(send_queries): sequence versions, a lead's enrollments and messages, leads by address."""

from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from nurture.domain import (
    Enrollment,
    EnrollmentStatus,
    Sequence,
)
from nurture.tables import enrollments, lead_states, messages, sequences

_ENROLLMENT_FIELDS = [c.name for c in enrollments.c if c.name != "updated_at"]


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


async def messages_of(conn: AsyncConnection, lead_id: UUID) -> list[Any]:
    """Every message a lead was sent, oldest first."""
    return list(await conn.execute(
        select(messages).where(messages.c.lead_id == lead_id)
        .order_by(messages.c.sent_at, messages.c.step)))


async def all_sequences(conn: AsyncConnection) -> list[Any]:
    """Every version of every sequence, newest version first within a key."""
    rows = await conn.execute(
        select(sequences).order_by(sequences.c.key, sequences.c.version.desc())
    )
    return list(rows)


async def active_enrollments_for_update(conn: AsyncConnection, lead_id: UUID) -> list[Enrollment]:
    """A lead's active enrollments, locked so the step scheduler cannot advance them meanwhile."""
    rows = await conn.execute(
        select(*(enrollments.c[name] for name in _ENROLLMENT_FIELDS))
        .where(enrollments.c.lead_id == lead_id,
               enrollments.c.status == EnrollmentStatus.active.value)
        .with_for_update()
    )
    return [Enrollment.model_validate(row._asdict()) for row in rows]


async def enrollments_of(conn: AsyncConnection, lead_id: UUID) -> list[Enrollment]:
    """Every enrollment of a lead, oldest first."""
    rows = await conn.execute(
        select(*(enrollments.c[name] for name in _ENROLLMENT_FIELDS))
        .where(enrollments.c.lead_id == lead_id)
        .order_by(enrollments.c.enrolled_at, enrollments.c.sequence_key)
    )
    return [Enrollment.model_validate(row._asdict()) for row in rows]
