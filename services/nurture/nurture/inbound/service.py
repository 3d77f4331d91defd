"""What a provider's report does: a reply stops the sequences that exit on one, a hard bounce or
a complaint suppresses the address and stops them all."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from leadloop.db import UnitOfWork
from leadloop.events.models import LeadActivity, LeadUnsubscribed
from nurture.leads import repository
from nurture.leads.changes import REPLY_KIND, Exited
from nurture.leads.service import apply
from nurture.sequences.domain import ExitReason


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
