"""Webhook subscribers: add, change, rotate secrets, read the delivery log."""

import uuid
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from uuid import UUID

from handoff.exceptions import SubscriberNotFound
from handoff.webhooks import repository as webhook_repository
from handoff.webhooks.domain import Delivery, NewSubscriber, SubscriberChange
from handoff.webhooks.repository import AttemptRow, SubscriberRow
from leadloop.db import UnitOfWork
from leadloop.webhooks import new_secret


async def create_subscriber(uow: UnitOfWork, subscriber: NewSubscriber
                            ) -> tuple[SubscriberRow, str]:
    """Add a subscriber with a fresh secret; returns it and the secret."""
    secret = new_secret()
    row = await webhook_repository.insert_subscriber(uow.connection, {
        "id": uuid.uuid4(), "name": subscriber.name, "url": str(subscriber.url),
        "event_types": subscriber.event_types, "enabled": True,
        "secrets": [{"secret": secret, "expires_at": None}]})
    return row, secret


async def update_subscriber(uow: UnitOfWork, subscriber_id: UUID,
                            patch: SubscriberChange) -> SubscriberRow:
    """Change a subscriber; enabling it clears why it was disabled and sends what it missed:
    messages held while it was disabled and those still pending when it was."""
    current = await webhook_repository.lock_subscriber(uow.connection, subscriber_id)
    if current is None:
        raise SubscriberNotFound
    changes = patch.changes()
    if changes.get("enabled") is True:
        changes["disabled_reason"] = None
        if not current.enabled:
            await webhook_repository.release_held(uow.connection, subscriber_id)
    elif changes.get("enabled") is False:
        changes["disabled_reason"] = "disabled by an admin"
    return await webhook_repository.update_subscriber(uow.connection, subscriber_id, changes)


async def rotate_secret(uow: UnitOfWork, subscriber_id: UUID,
                        overlap: timedelta) -> tuple[SubscriberRow, str]:
    """A new secret signs from now on; the old ones keep signing alongside for `overlap`."""
    row = await webhook_repository.lock_subscriber(uow.connection, subscriber_id)
    if row is None:
        raise SubscriberNotFound
    now = datetime.now(UTC)
    until = (now + overlap).isoformat()
    kept = [{"secret": s["secret"], "expires_at": s.get("expires_at") or until}
            for s in row.secrets
            if s.get("expires_at") is None or datetime.fromisoformat(s["expires_at"]) > now]
    secret = new_secret()
    updated = await webhook_repository.update_subscriber(
        uow.connection, subscriber_id,
        {"secrets": [{"secret": secret, "expires_at": None}, *kept]})
    return updated, secret


async def delivery_log(uow: UnitOfWork, subscriber_id: UUID, status: str | None,
                       cursor: str | None, limit: int) -> tuple[list[Delivery], str | None]:
    """A page of a subscriber's deliveries, newest first, with their attempts, and the next
    page's cursor."""
    conn = uow.connection
    if await webhook_repository.get_subscriber(conn, subscriber_id) is None:
        raise SubscriberNotFound
    rows = await webhook_repository.deliveries_of(conn, subscriber_id, status, cursor, limit)
    deliveries, next_cursor = webhook_repository.DELIVERY_ORDER.page(rows, limit)
    attempts = await webhook_repository.attempts_of(conn, [d.id for d in deliveries])
    by_delivery: dict[str, list[AttemptRow]] = {}
    for a in attempts:
        by_delivery.setdefault(a.delivery_id, []).append(a)
    return [Delivery(**{f.name: getattr(d, f.name) for f in fields(d)},
                     log=by_delivery.get(d.id, [])) for d in deliveries], next_cursor
