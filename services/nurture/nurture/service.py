"""Nurture's use cases: enter and leave sequences as leads move through the funnel.

Everything that happens to leads goes through `apply`, a batch at a time: load the leads'
states and active enrollments (one statement per table, rows locked in lead-id order), decide
in pure code (lead_changes.plan, with the sequences held in memory), write one set-based
statement per table. The consumer applies a whole batch of events this way; a reply, bounce,
open or unsubscribe reported over HTTP is a batch of one.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from leadloop.db import UnitOfWork
from leadloop.events.models import LeadActivity, LeadUnsubscribed, event_time_now
from nurture import catalog, lead_changes, lead_queries, repository, send_queries
from nurture.domain import ExitReason
from nurture.lead_changes import (
    REPLY_KIND,
    Created,
    DealEnded,
    Engaged,
    Exited,
    LeadChange,
    Plan,
    Scored,
)


async def apply(uow: UnitOfWork, changes: Sequence[LeadChange]) -> Plan:
    """Apply `changes` (in order; each lead's in the order given) and return what they did."""
    lead_ids = lead_changes.lead_ids_of(changes)
    if not lead_ids:
        return Plan()
    driver = await uow.driver()
    states = await lead_queries.lock_lead_states(driver, lead_ids)
    active = await lead_queries.active_enrollments(driver, lead_ids)
    sequences = await catalog.current(uow.connection,
                                      {(e.sequence_key, e.sequence_version) for e in active})
    decided = lead_changes.plan(changes, states, active, sequences, event_time_now())
    # Erasure first: engagements recorded after it in the batch are kept, as one by one.
    await lead_queries.forget_leads(driver, decided.erased)
    await lead_queries.save_lead_states(driver, decided.changed_states)
    await lead_queries.move_enrollments(driver, decided.changed_enrollments)
    await lead_queries.insert_enrollments(driver, decided.new_enrollments)
    await lead_queries.insert_engagements(driver, decided.engagements)
    for reason in dict.fromkeys(reason for _, reason in decided.suppressions):
        await send_queries.suppress(uow.connection, [email for email, r in decided.suppressions
                                                     if r == reason], reason.value)
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


async def track(uow: UnitOfWork, message_id: UUID, kind: str, url: str | None) -> bool:
    """An open or click of one of our messages: a lead.activity for scoring, and a fact for
    branches. False if the message is unknown (e.g. the lead was erased)."""
    lead_id = await repository.message_lead(uow.connection, message_id)
    if lead_id is None:
        return False
    await _engaged(uow, lead_id, message_id, kind, url)
    return True


async def click(uow: UnitOfWork, message_id: UUID, link: int) -> str | None:
    """A click on link number `link` of a message: tracked like `track`; returns the link's
    stored target, or None if the message (or that link of it) is unknown."""
    found = await repository.message_link(uow.connection, message_id, link)
    if found is None:
        return None
    lead_id, url = found
    await _engaged(uow, lead_id, message_id, "email_clicked", url)
    return url


async def _engaged(uow: UnitOfWork, lead_id: UUID, message_id: UUID, kind: str,
                   url: str | None) -> None:
    activity_id, now = uuid.uuid4(), event_time_now()
    await apply(uow, [Engaged(lead_id, activity_id, kind, now, url, message_id)])
    uow.publish(LeadActivity(lead_id=lead_id, activity_id=activity_id, kind=kind,
                             occurred_at=now, url=url,
                             properties={"message_id": str(message_id)}))


async def unsubscribe(uow: UnitOfWork, message_id: UUID) -> bool:
    """Suppress the lead for email, stop its sequences and announce lead.unsubscribed (once).
    False if the message is unknown."""
    lead_id = await repository.message_lead(uow.connection, message_id)
    if lead_id is None:
        return False
    now = event_time_now()
    done = await apply(uow, [Exited(lead_id, ExitReason.unsubscribed, now)])
    if done.before[lead_id].unsubscribed_at is None:
        uow.publish(LeadUnsubscribed(lead_id=lead_id, channel="email", unsubscribed_at=now))
    return True


async def leads_addressed(uow: UnitOfWork, message_id: UUID | None,
                          email: str | None) -> list[UUID]:
    """The leads a provider's report is about: the one a message went to, or every lead with
    that address (one person may have several lead records)."""
    if message_id is not None:
        lead_id = await repository.message_lead(uow.connection, message_id)
        return [] if lead_id is None else [lead_id]
    assert email is not None
    return await repository.leads_with_email(uow.connection, email)


async def record_reply(uow: UnitOfWork, lead_ids: Sequence[UUID], at: datetime,
                       message_id: UUID | None = None) -> None:
    """The leads wrote back: sequences that exit on a reply stop (a person is in the
    conversation now), and each reply is published as lead.activity (email_replied) for
    scoring and the timeline. (A reply that came in as a lead.activity is a LeadActivity the
    consumer applies, and is not announced again.)"""
    await apply(uow, [Exited(lead_id, ExitReason.replied, at) for lead_id in lead_ids])
    properties = {} if message_id is None else {"message_id": str(message_id)}
    for lead_id in lead_ids:
        uow.publish(LeadActivity(lead_id=lead_id, activity_id=uuid.uuid4(), kind=REPLY_KIND,
                                 occurred_at=at, properties=properties))


async def record_bounce(uow: UnitOfWork, lead_ids: Sequence[UUID], at: datetime) -> None:
    """A hard bounce reported after the send: the address is suppressed and every sequence
    of the leads stops."""
    await apply(uow, [Exited(lead_id, ExitReason.bounced, at) for lead_id in lead_ids])


async def record_complaint(uow: UnitOfWork, lead_ids: Sequence[UUID], at: datetime) -> None:
    """The person reported our email as spam: as strong as an unsubscribe. The address is
    suppressed, every sequence stops, and lead.unsubscribed is announced (once per lead)."""
    done = await apply(uow, [Exited(lead_id, ExitReason.unsubscribed, at)
                             for lead_id in lead_ids])
    for lead_id in lead_ids:
        if done.before[lead_id].unsubscribed_at is None:
            uow.publish(LeadUnsubscribed(lead_id=lead_id, channel="email", unsubscribed_at=at))
