"""Every query nurture makes."""

from collections.abc import Sequence as Seq
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from nurture.domain import (
    Enrollment,
    EnrollmentStatus,
    EntryRule,
    ExitReason,
    LeadState,
    Sequence,
)
from nurture.tables import engagements, enrollments, lead_states, messages, sequences

_STATE_FIELDS = [c.name for c in lead_states.c if c.name != "updated_at"]
_ENROLLMENT_FIELDS = [c.name for c in enrollments.c if c.name != "updated_at"]


async def lock_lead_state(conn: AsyncConnection, lead_id: UUID) -> LeadState:
    """The lead's state (empty if new), locked until the transaction ends.

    Every handler takes this lock first, so events about one lead that arrive on different
    topics and are handled by different replicas apply one after the other: a lead.created
    can never enroll a lead whose lead.qualified is being applied at the same moment.
    """
    statement = insert(lead_states).values(lead_id=lead_id)
    # A no-op update on conflict locks the row and returns its latest committed version.
    upsert = statement.on_conflict_do_update(
        index_elements=[lead_states.c.lead_id],
        set_={"lead_id": statement.excluded.lead_id},
    ).returning(*(lead_states.c[name] for name in _STATE_FIELDS))
    row = (await conn.execute(upsert)).one()
    return LeadState.model_validate(row._asdict())


async def save_lead_state(conn: AsyncConnection, state: LeadState) -> None:
    """Store a lead's state (its row must exist: `lock_lead_state` made it)."""
    values = state.model_dump(exclude={"lead_id"})
    await conn.execute(
        update(lead_states).where(lead_states.c.lead_id == state.lead_id)
        .values(**values, updated_at=func.now())
    )


async def active_sequences(conn: AsyncConnection, rule: EntryRule) -> list[Sequence]:
    """The live version of every sequence that `rule` enrolls into."""
    rows = await conn.execute(
        select(sequences.c.key, sequences.c.version, sequences.c.entry_rule, sequences.c.steps,
               sequences.c.active, sequences.c.settings)
        .where(sequences.c.active, sequences.c.entry_rule == rule.value)
    )
    return [_sequence(row) for row in rows]


def _sequence(row: Any) -> Sequence:
    values = row._asdict()
    return Sequence.model_validate({**values.pop("settings"), **values})


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


async def exit_rules_of(conn: AsyncConnection,
                        enrollments_: Seq[Enrollment]) -> dict[tuple[str, int], list[ExitReason]]:
    """The exit conditions of the sequence versions these enrollments run."""
    keys = list({(e.sequence_key, e.sequence_version) for e in enrollments_})
    if not keys:
        return {}
    rows = await conn.execute(
        select(sequences.c.key, sequences.c.version, sequences.c.entry_rule, sequences.c.steps,
               sequences.c.active, sequences.c.settings)
        .where(func.row(sequences.c.key, sequences.c.version).in_(keys))
    )
    return {(row.key, row.version): _sequence(row).exit_on for row in rows}


async def insert_engagement(conn: AsyncConnection, *, engagement_id: UUID, lead_id: UUID,
                            kind: str, url: str | None, message_id: UUID | None,
                            at: datetime) -> None:
    """Remember something the lead did (branches read it); a replay is ignored."""
    await conn.execute(insert(engagements).values(
        id=engagement_id, lead_id=lead_id, kind=kind, url=url, message_id=message_id,
        occurred_at=at).on_conflict_do_nothing())


async def wake_enrollments(conn: AsyncConnection, lead_id: UUID) -> None:
    """Make a lead's active enrollments due now, so a branch waiting for an open, click, visit
    or score decides at once (a wait or a deferred send just goes back to sleep)."""
    await conn.execute(update(enrollments)
                       .where(enrollments.c.lead_id == lead_id,
                              enrollments.c.status == EnrollmentStatus.active.value,
                              enrollments.c.next_step_due_at > func.now())
                       .values(next_step_due_at=func.now()))


async def message_lead(conn: AsyncConnection, message_id: UUID) -> UUID | None:
    """The lead a message went to, or None."""
    return (await conn.execute(select(messages.c.lead_id).where(messages.c.id == message_id))
            ).scalar_one_or_none()


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


async def insert_enrollments(conn: AsyncConnection, new: Seq[Enrollment]) -> None:
    """Insert enrollments in one statement; one the lead already runs is skipped."""
    if not new:
        return
    await conn.execute(
        insert(enrollments)
        .values([e.model_dump(include=set(_ENROLLMENT_FIELDS)) for e in new])
        .on_conflict_do_nothing()
    )


async def active_enrollments_for_update(conn: AsyncConnection, lead_id: UUID) -> list[Enrollment]:
    """A lead's active enrollments, locked so the step scheduler cannot advance them meanwhile."""
    rows = await conn.execute(
        select(*(enrollments.c[name] for name in _ENROLLMENT_FIELDS))
        .where(enrollments.c.lead_id == lead_id,
               enrollments.c.status == EnrollmentStatus.active.value)
        .with_for_update()
    )
    return [Enrollment.model_validate(row._asdict()) for row in rows]


async def exit_enrollments(conn: AsyncConnection, ids: Seq[UUID], reason: ExitReason,
                           at: datetime) -> None:
    """Stop the given enrollments for `reason`, in one statement."""
    if not ids:
        return
    await conn.execute(
        update(enrollments)
        .where(enrollments.c.id.in_(ids))
        .values(status=EnrollmentStatus.exited.value, exit_reason=reason.value, exited_at=at,
                next_step_due_at=None, updated_at=func.now())
    )


async def enrollments_of(conn: AsyncConnection, lead_id: UUID) -> list[Enrollment]:
    """Every enrollment of a lead, oldest first."""
    rows = await conn.execute(
        select(*(enrollments.c[name] for name in _ENROLLMENT_FIELDS))
        .where(enrollments.c.lead_id == lead_id)
        .order_by(enrollments.c.enrolled_at, enrollments.c.sequence_key)
    )
    return [Enrollment.model_validate(row._asdict()) for row in rows]


async def delete_enrollments_of(conn: AsyncConnection, lead_id: UUID) -> None:
    """Delete every enrollment of a lead."""
    await conn.execute(delete(enrollments).where(enrollments.c.lead_id == lead_id))


async def forget_lead_activity(conn: AsyncConnection, lead_id: UUID) -> None:
    """Delete a lead's messages and engagements (erasure)."""
    await conn.execute(delete(engagements).where(engagements.c.lead_id == lead_id))
    await conn.execute(delete(messages).where(messages.c.lead_id == lead_id))
