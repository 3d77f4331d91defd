"""Publishing handoff's events: to Kafka through the outbox, and to webhook subscribers."""

from uuid import UUID

import orjson

from handoff import webhook_repository
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent, EventData


async def publish(uow: UnitOfWork, event: EventData) -> CloudEvent:
    """Publish `event` (outbox) and enqueue one webhook delivery per subscriber wanting it,
    all in the unit of work's transaction."""
    envelope = uow.publish(event)
    body = orjson.dumps({"type": envelope.type, "timestamp": envelope.time.isoformat(),
                         "id": envelope.id, "data": envelope.data}).decode()
    lead_id = getattr(event, "lead_id", None)
    await webhook_repository.enqueue(uow.connection, event_id=UUID(envelope.id),
                                     event_type=envelope.type,
                                     lead_id=lead_id if isinstance(lead_id, UUID) else None,
                                     body=body)
    return envelope
