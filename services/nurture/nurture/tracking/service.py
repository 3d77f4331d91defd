"""What the public routes do: an open or click tracked, an unsubscribe applied."""

import uuid
from uuid import UUID

from leadloop.db import UnitOfWork
from leadloop.events.models import LeadActivity, LeadUnsubscribed, event_time_now
from nurture.leads import repository
from nurture.leads.changes import Engaged, Exited
from nurture.leads.service import apply
from nurture.sequences.domain import ExitReason


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
