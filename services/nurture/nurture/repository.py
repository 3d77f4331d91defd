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
from nurture.tables import enrollments, lead_states, sequences

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
               sequences.c.active)
        .where(sequences.c.active, sequences.c.entry_rule == rule.value)
    )
    return [Sequence.model_validate(row._asdict()) for row in rows]


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
