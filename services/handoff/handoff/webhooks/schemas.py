"""HTTP models of webhook subscribers and the delivery log."""

from dataclasses import asdict
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from handoff.assignments.schemas import printable, printable_or_none
from handoff.sla.domain import REMINDER_TYPE
from handoff.webhooks.domain import Delivery
from leadloop.events.topology import PUBLISHES
from leadloop.pagination import Page

EVENT_TYPES = (*PUBLISHES["handoff"], REMINDER_TYPE)


def _known_types(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {list(EVENT_TYPES)}")
    return sorted(set(values))


class SubscriberIn(BaseModel):
    """A sales tool that receives handoff's events by HTTP POST."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: AnyHttpUrl
    event_types: list[str] = Field(default=[], description="[] = every event type")

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        return _known_types(value)

    _name = field_validator("name")(printable)


class SubscriberPatch(BaseModel):
    """Changes to a subscriber; `{"enabled": true}` re-enables one disabled after failures."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: AnyHttpUrl | None = None
    event_types: list[str] | None = None
    enabled: bool | None = None

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _known_types(value)

    _name = field_validator("name")(printable_or_none)

    def changes(self) -> dict[str, Any]:
        """Only what was sent (nulls mean "keep")."""
        values = {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}
        if "url" in values:
            values["url"] = str(values["url"])
        return values


class SubscriberOut(BaseModel):
    """A subscriber (its secret is shown only when created or rotated)."""

    # Built from a repository row: attributes it does not declare (secrets) are not read.
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class SubscriberWithSecret(SubscriberOut):
    """A subscriber and its signing secret ("whsec_..."), for the receiver to verify with."""

    secret: str


class SubscriberList(Page[SubscriberOut]):
    """Subscribers, oldest first, a page at a time."""


class AttemptOut(BaseModel):
    """One try of a delivery."""

    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    """One message to one subscriber and every attempt to deliver it."""

    id: str
    event_id: UUID
    event_type: str
    lead_id: UUID | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    log: list[AttemptOut]

    @classmethod
    def of(cls, delivery: Delivery) -> "DeliveryOut":
        """From the delivery log (when it is tried next only while it is pending)."""
        shown = asdict(delivery)
        if delivery.status != "pending":
            shown["next_attempt_at"] = None
        return cls.model_validate(shown)


class DeliveryList(Page[DeliveryOut]):
    """A subscriber's deliveries, newest first, a page at a time."""
