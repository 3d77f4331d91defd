"""Events: the CloudEvents envelope, every event's data model, and the contracts built from them."""

from leadloop.events.envelope import CloudEvent, EnvelopeError
from leadloop.events.models import (
    EVENT_TYPES,
    DomainEvent,
    EventData,
    event_time_now,
    event_type_of,
    parse_event,
)

__all__ = [
    "EVENT_TYPES",
    "CloudEvent",
    "DomainEvent",
    "EnvelopeError",
    "EventData",
    "event_time_now",
    "event_type_of",
    "parse_event",
]
