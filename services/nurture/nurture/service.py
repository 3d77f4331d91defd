"""Nurture's use cases: enter and leave sequences as a lead moves through the funnel."""

from datetime import datetime
from uuid import UUID

from leadloop.db import UnitOfWork
from leadloop.events.models import event_time_now
from nurture import domain, repository
from nurture.domain import EntryRule, ExitReason


async def enroll_new_lead(uow: UnitOfWork, lead_id: UUID, created_at: datetime) -> None:
    """Enroll a new lead in the new-lead sequences, unless it has already left marketing."""
    conn = uow.connection
    state = await repository.lock_lead_state(conn, lead_id)
    state, enter = domain.admit_new_lead(state, created_at)
    await repository.save_lead_state(conn, state)
    if not enter:
        return
    rule = EntryRule.new_unqualified_lead
    now = event_time_now()
    chosen = domain.sequences_to_enter(await repository.active_sequences(conn, rule), rule)
    await repository.insert_enrollments(conn, [domain.enroll(lead_id, s, now) for s in chosen])


async def exit_sequences(uow: UnitOfWork, lead_id: UUID, reason: ExitReason,
                         happened_at: datetime) -> None:
    """Record why the lead leaves marketing and stop its active enrollments at once."""
    conn = uow.connection
    state = await repository.lock_lead_state(conn, lead_id)
    await repository.save_lead_state(conn, domain.record_exit_cause(state, reason, happened_at))
    active = await repository.active_enrollments_for_update(conn, lead_id)
    # exited_at is when nurture stopped mailing, not when the cause happened elsewhere.
    await repository.exit_enrollments(conn, domain.enrollments_to_exit(active, reason), reason,
                                      event_time_now())


async def record_rejection(uow: UnitOfWork, lead_id: UUID, reason: str,
                           rejected_at: datetime) -> None:
    """Remember that sales rejected the lead (the recycle sequence will start from this)."""
    conn = uow.connection
    state = await repository.lock_lead_state(conn, lead_id)
    await repository.save_lead_state(conn, domain.record_rejection(state, reason, rejected_at))


async def erase_lead(uow: UnitOfWork, lead_id: UUID, erased_at: datetime) -> None:
    """Delete what nurture holds about a lead, keeping only the fact that it was erased."""
    conn = uow.connection
    state = await repository.lock_lead_state(conn, lead_id)
    await repository.delete_enrollments_of(conn, lead_id)
    await repository.save_lead_state(conn, domain.erased(state, erased_at))
