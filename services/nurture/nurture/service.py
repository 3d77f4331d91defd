"""Nurture's use cases: enter and leave sequences as a lead moves through the funnel."""

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from leadloop.db import UnitOfWork
from leadloop.events.models import LeadActivity, LeadUnsubscribed, event_time_now
from nurture import domain, repository, send_queries
from nurture.domain import EntryRule, ExitReason, LeadState

ENGAGEMENT_KINDS = {"email_opened", "email_clicked", "page_view"}
REPLY_KIND = "email_replied"


async def _enroll(uow: UnitOfWork, state: LeadState, rule: EntryRule) -> None:
    conn = uow.connection
    if not domain.should_enroll(state, rule):
        return
    if state.profile_at is None and rule != EntryRule.new_unqualified_lead:
        await repository.save_lead_state(conn, domain.defer_entry(state, rule))
        return
    now = event_time_now()
    chosen = domain.sequences_to_enter(await repository.active_sequences(conn, rule), rule,
                                       state.attributes)
    await repository.insert_enrollments(conn, [domain.enroll(state.lead_id, s, now)
                                               for s in chosen])


async def enroll_new_lead(uow: UnitOfWork, lead_id: UUID, created_at: datetime,
                          profile: Mapping[str, Any] | None = None, consent: bool = False,
                          attributes: Mapping[str, Any] | None = None) -> None:
    """Keep the lead's contact copy and enroll it in the new-lead sequences of its segment,
    unless it has already left marketing."""
    conn = uow.connection
    state = await repository.lock_lead_state(conn, lead_id)
    if profile is not None:
        state = domain.record_profile(state, profile, consent, attributes or {}, created_at)
    state, enter = domain.admit_new_lead(state, created_at)
    state, pending = domain.take_pending_entries(state)
    await repository.save_lead_state(conn, state)
    if enter:
        await _enroll(uow, state, EntryRule.new_unqualified_lead)
    for rule in pending:  # rules that fired before the profile arrived
        await _enroll(uow, state, rule)


async def update_profile(uow: UnitOfWork, lead_id: UUID, profile: Mapping[str, Any],
                         consent: bool, attributes: Mapping[str, Any], at: datetime) -> None:
    """Keep the newest profile and consent; the next send reads them."""
    conn = uow.connection
    state = await repository.lock_lead_state(conn, lead_id)
    state, pending = domain.take_pending_entries(
        domain.record_profile(state, profile, consent, attributes, at))
    await repository.save_lead_state(conn, state)
    for rule in pending:  # rules that fired before the profile arrived
        await _enroll(uow, state, rule)


async def change_consent(uow: UnitOfWork, lead_id: UUID, granted: bool, at: datetime) -> None:
    """Email-marketing consent given or withdrawn: the next send step reads it."""
    conn = uow.connection
    state = await repository.lock_lead_state(conn, lead_id)
    await repository.save_lead_state(conn, domain.record_consent(state, granted, at))


async def exit_sequences(uow: UnitOfWork, lead_id: UUID, reason: ExitReason,
                         happened_at: datetime) -> None:
    """Record why the lead leaves marketing and stop its active enrollments at once."""
    conn = uow.connection
    # The lead row lock is what the scheduler takes before a send: once this commits, no
    # send to this lead can start, and a send in flight finished before it.
    state = await repository.lock_lead_state(conn, lead_id)
    await repository.save_lead_state(conn, domain.record_exit_cause(state, reason, happened_at))
    if reason in (ExitReason.unsubscribed, ExitReason.bounced):
        # The address stays suppressed for any other lead record that carries it.
        await send_queries.suppress(conn, [state.email], reason.value)
    active = await repository.active_enrollments_for_update(conn, lead_id)
    exit_on = await repository.exit_rules_of(conn, active)
    # exited_at is when nurture stopped mailing, not when the cause happened elsewhere.
    await repository.exit_enrollments(conn, domain.enrollments_to_exit(active, reason, exit_on),
                                      reason, event_time_now())


async def record_rejection(uow: UnitOfWork, lead_id: UUID, reason: str,
                           rejected_at: datetime) -> None:
    """Remember that sales rejected the lead, and start its recycle sequences."""
    conn = uow.connection
    state = await repository.lock_lead_state(conn, lead_id)
    new_state = domain.record_rejection(state, reason, rejected_at)
    await repository.save_lead_state(conn, new_state)
    if new_state != state:
        await _enroll(uow, new_state, EntryRule.lead_rejected)


async def deal_closed(uow: UnitOfWork, lead_id: UUID, won: bool, closed_at: datetime) -> None:
    """Stop sequences that end on a closed deal, then start onboarding or re-engagement."""
    await exit_sequences(uow, lead_id, ExitReason.deal_closed, closed_at)
    state = await repository.lock_lead_state(uow.connection, lead_id)
    await _enroll(uow, state, EntryRule.deal_won if won else EntryRule.deal_lost)


async def record_score(uow: UnitOfWork, lead_id: UUID, score: int, at: datetime) -> None:
    """Keep the latest score for score branches and let waiting branches decide."""
    conn = uow.connection
    state = await repository.lock_lead_state(conn, lead_id)
    await repository.save_lead_state(conn, domain.record_score(state, score, at))
    await repository.wake_enrollments(conn, lead_id)


async def record_engagement(uow: UnitOfWork, lead_id: UUID, activity_id: UUID, kind: str,
                            url: str | None, at: datetime,
                            message_id: UUID | None = None) -> None:
    """Remember an open, click or visit for branches, and let waiting branches decide."""
    if kind not in ENGAGEMENT_KINDS:
        return
    conn = uow.connection
    await repository.insert_engagement(conn, engagement_id=activity_id, lead_id=lead_id,
                                       kind=kind, url=url, message_id=message_id, at=at)
    await repository.wake_enrollments(conn, lead_id)


async def track(uow: UnitOfWork, message_id: UUID, kind: str, url: str | None) -> bool:
    """An open or click of one of our messages: a lead.activity for scoring, and a fact for
    branches. False if the message is unknown (e.g. the lead was erased)."""
    lead_id = await repository.message_lead(uow.connection, message_id)
    if lead_id is None:
        return False
    activity_id, now = uuid.uuid4(), event_time_now()
    await record_engagement(uow, lead_id, activity_id, kind, url, now, message_id)
    uow.publish(LeadActivity(lead_id=lead_id, activity_id=activity_id, kind=kind,
                             occurred_at=now, url=url,
                             properties={"message_id": str(message_id)}))
    return True


async def unsubscribe(uow: UnitOfWork, message_id: UUID) -> bool:
    """Suppress the lead for email, stop its sequences and announce lead.unsubscribed (once).
    False if the message is unknown."""
    conn = uow.connection
    lead_id = await repository.message_lead(conn, message_id)
    if lead_id is None:
        return False
    state = await repository.lock_lead_state(conn, lead_id)
    first_time = state.unsubscribed_at is None
    now = event_time_now()
    await exit_sequences(uow, lead_id, ExitReason.unsubscribed, now)
    if first_time:
        uow.publish(LeadUnsubscribed(lead_id=lead_id, channel="email", unsubscribed_at=now))
    return True


async def erase_lead(uow: UnitOfWork, lead_id: UUID, erased_at: datetime) -> None:
    """Delete what nurture holds about a lead, keeping only the fact that it was erased."""
    conn = uow.connection
    state = await repository.lock_lead_state(conn, lead_id)
    await repository.delete_enrollments_of(conn, lead_id)
    await repository.forget_lead_activity(conn, lead_id)
    await repository.save_lead_state(conn, domain.erased(state, erased_at))


async def leads_addressed(uow: UnitOfWork, message_id: UUID | None,
                          email: str | None) -> list[UUID]:
    """The leads a provider's report is about: the one a message went to, or every lead with
    that address (one person may have several lead records)."""
    if message_id is not None:
        lead_id = await repository.message_lead(uow.connection, message_id)
        return [] if lead_id is None else [lead_id]
    assert email is not None
    return await repository.leads_with_email(uow.connection, email)


async def record_reply(uow: UnitOfWork, lead_id: UUID, at: datetime,
                       message_id: UUID | None = None, *, announce: bool = True) -> None:
    """The lead wrote back: sequences that exit on a reply stop (a person is in the
    conversation now). `announce` publishes the reply as lead.activity (email_replied) for
    scoring and the timeline; a reply that came in as a lead.activity is not announced again."""
    await exit_sequences(uow, lead_id, ExitReason.replied, at)
    if announce:
        properties = {} if message_id is None else {"message_id": str(message_id)}
        uow.publish(LeadActivity(lead_id=lead_id, activity_id=uuid.uuid4(), kind=REPLY_KIND,
                                 occurred_at=at, properties=properties))


async def record_bounce(uow: UnitOfWork, lead_id: UUID, at: datetime) -> None:
    """A hard bounce reported after the send: the address is suppressed and every sequence
    of the lead stops."""
    await exit_sequences(uow, lead_id, ExitReason.bounced, at)
