"""Publishing handoff's events: to Kafka through the outbox, and to webhook subscribers."""

from collections.abc import Sequence
from uuid import UUID

import orjson

from handoff.webhooks import repository as webhook_repository
from handoff.webhooks.repository import Message
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent, EventData


def messages_of(events: Sequence[EventData], envelopes: Sequence[CloudEvent]) -> list[Message]:
    """The webhook message of each event (the exact body subscribers get, signed)."""
    messages = []
    for event, envelope in zip(events, envelopes, strict=True):
        body = orjson.dumps({"type": envelope.type, "timestamp": envelope.time.isoformat(),
                             "id": envelope.id, "data": envelope.data}).decode()
        lead_id = getattr(event, "lead_id", None)
        messages.append(Message(UUID(envelope.id), envelope.type,
                                lead_id if isinstance(lead_id, UUID) else None, body))
    return messages


async def publish_all(uow: UnitOfWork, events: Sequence[EventData]) -> list[CloudEvent]:
    """Publish `events` (outbox, written at commit) and enqueue one webhook delivery per
    subscriber wanting each (one statement), all in the unit of work's transaction."""
    envelopes = [uow.publish(event) for event in events]
    await webhook_repository.enqueue(uow, messages_of(events, envelopes))
    return envelopes


async def publish(uow: UnitOfWork, event: EventData) -> CloudEvent:
    """Publish one event (outbox and webhook subscribers)."""
    (envelope,) = await publish_all(uow, [event])
    return envelope
