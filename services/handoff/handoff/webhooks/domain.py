"""Webhook subscribers as the use cases see them: what adding or changing one takes (no HTTP
models here), and a delivery in the log with its attempts."""

from dataclasses import dataclass
from typing import Any, Protocol

from handoff.webhooks.repository import AttemptRow, DeliveryRow


class NewSubscriber(Protocol):
    """A subscriber to add (the router's SubscriberIn is one)."""

    @property
    def name(self) -> str:
        """What the admin calls it."""

    @property
    def url(self) -> object:
        """Where it listens (checked: an http(s) URL)."""

    @property
    def event_types(self) -> list[str]:
        """The event types it wants; empty: every type."""


class SubscriberChange(Protocol):
    """A change to a subscriber: only the fields given (the router's SubscriberPatch is one)."""

    def changes(self) -> dict[str, Any]:
        """The stored columns to change."""


@dataclass(frozen=True, slots=True)
class Delivery(DeliveryRow):
    """One message to one subscriber, where it stands, and every attempt to deliver it."""

    log: list[AttemptRow]
