"""Nurture's use cases: enter and leave sequences as leads move through the funnel.

Everything that happens to leads goes through `apply`, a batch at a time: load the leads'
states and active enrollments (one statement per table, rows locked in lead-id order), decide
in pure code (leads.changes.plan, with the sequences held in memory), write one set-based
statement per table. The consumer applies a whole batch of events this way; a reply, bounce,
open or unsubscribe reported over HTTP is a batch of one.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from leadloop.db import UnitOfWork
from leadloop.events.models import event_time_now
from nurture.leads import changes as lead_changes
from nurture.leads import repository
from nurture.leads.changes import Created, DealEnded, Exited, LeadChange, Plan, Scored
from nurture.sending import repository as sending_repository
from nurture.sequences import catalog
from nurture.sequences.domain import ExitReason


async def apply(uow: UnitOfWork, changes: Sequence[LeadChange]) -> Plan:
    """Apply `changes` (in order; each lead's in the order given) and return what they did."""
    lead_ids = lead_changes.lead_ids_of(changes)
    if not lead_ids:
        return Plan()
    driver = await uow.driver()
    states = await repository.lock_lead_states(driver, lead_ids)
    active = await repository.active_enrollments(driver, lead_ids)
    sequences = await catalog.current(uow.connection,
                                      {(e.sequence_key, e.sequence_version) for e in active})
    decided = lead_changes.plan(changes, states, active, sequences, event_time_now())
    # Erasure first: engagements recorded after it in the batch are kept, as one by one.
    await repository.forget_leads(driver, decided.erased)
    await repository.save_lead_states(driver, decided.changed_states)
    await repository.move_enrollments(driver, decided.changed_enrollments)
    await repository.insert_enrollments(driver, decided.new_enrollments)
    await repository.insert_engagements(driver, decided.engagements)
    for reason in dict.fromkeys(reason for _, reason in decided.suppressions):
        await sending_repository.suppress(
            uow.connection, [email for email, r in decided.suppressions if r == reason],
            reason.value)
    return decided


async def enroll_new_lead(uow: UnitOfWork, lead_id: UUID, created_at: datetime,
                          profile: Mapping[str, Any] | None = None, consent: bool = False,
                          attributes: Mapping[str, Any] | None = None) -> None:
    """Keep the lead's contact copy and enroll it in the new-lead sequences of its segment,
    unless it has already left marketing."""
    await apply(uow, [Created(lead_id, created_at, profile, consent, attributes or {})])


async def exit_sequences(uow: UnitOfWork, lead_id: UUID, reason: ExitReason,
                         happened_at: datetime) -> None:
    """Record why the lead leaves marketing and stop its active enrollments at once."""
    await apply(uow, [Exited(lead_id, reason, happened_at)])


async def deal_closed(uow: UnitOfWork, lead_id: UUID, won: bool, closed_at: datetime) -> None:
    """Stop sequences that end on a closed deal, then start onboarding or re-engagement."""
    await apply(uow, [DealEnded(lead_id, won, closed_at)])


async def record_score(uow: UnitOfWork, lead_id: UUID, score: int, at: datetime) -> None:
    """Keep the latest score for score branches and let waiting branches decide."""
    await apply(uow, [Scored(lead_id, score, at)])
