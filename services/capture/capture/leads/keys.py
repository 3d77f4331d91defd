"""Data keys for leads created in bulk, issued set-based before the unit of work seals events.

`UnitOfWork.commit` seals each event's personal fields under its lead's key and, for leads
without one, issues it (leadloop.keyring). A batch of new leads issues its keys first, with the
keyring's set-based `issue_keys`, and seals their events with the keys in hand, so that sealing
at commit has no key to look up for them. The sealed fields are exactly what the keyring seals
(`leadloop.pii.seal`).
"""

from leadloop.db import UnitOfWork
from leadloop.events import EventData, event_type_of
from leadloop.pii import seal


def publish_sealed(uow: UnitOfWork, event: EventData, key: bytes | None) -> None:
    """Publish `event`, its personal fields already sealed under `key` when we hold the lead's
    fresh key (sealing at commit then has nothing to look up); as usual otherwise."""
    if key is None:
        uow.publish(event)
        return
    subject = str(event.lead_id)  # type: ignore[attr-defined]
    uow.publish_validated(event_type_of(event), subject,
                          seal(event.model_dump(mode="json"), subject, key))




def publish_all(uow: UnitOfWork, events: list[EventData], traceparent: str | None,
                key: bytes | None = None) -> None:
    """Publish one request's events, continuing that request's trace (sealed with the lead's
    fresh `key` when this batch issued it)."""
    for event in events:
        if traceparent is not None:
            uow.causes[str(event.lead_id)] = traceparent  # type: ignore[attr-defined]
        publish_sealed(uow, event, key)
