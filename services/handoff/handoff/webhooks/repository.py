"""Queries on webhook subscribers, deliveries and the attempt log."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.tables import webhook_attempts, webhook_deliveries, webhook_subscribers
from leadloop.db import UnitOfWork
from leadloop.pagination import Keyset


def enqueue_from(messages: str) -> str:
    """The INSERT queueing one delivery of each message per subscriber that wants its type:
    pending for an enabled subscriber, held for a disabled one (sent once an admin enables it
    again); a repeated event id is not enqueued twice. `messages` is a FROM item `m` of
    (event_id, event_type, lead_id, body, n): `enqueue` runs it alone, a hand-off as one part
    of its single statement (routing.repository.store_handoffs)."""
    return f"""
INSERT INTO webhook_deliveries (id, subscriber_id, event_id, event_type, lead_id, body, status,
                                next_attempt_at)
SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), s.id, m.event_id, m.event_type,
       m.lead_id, m.body, CASE WHEN s.enabled THEN 'pending' ELSE 'held' END, now()
FROM {messages}
JOIN webhook_subscribers AS s
    ON cardinality(s.event_types) = 0 OR m.event_type = ANY(s.event_types)
ORDER BY m.n, s.id
ON CONFLICT DO NOTHING
"""


_ENQUEUE = enqueue_from("unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[])"
                        " WITH ORDINALITY AS m(event_id, event_type, lead_id, body, n)")


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """A webhook subscriber: where it listens, which event types, its signing secrets."""

    id: UUID
    name: str
    url: str
    event_types: list[str]  # empty: every type
    secrets: list[dict[str, Any]]  # {"secret", "expires_at"}, newest first
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One message to one subscriber, and where its delivery stands."""

    id: str
    subscriber_id: UUID
    event_id: UUID
    event_type: str
    lead_id: UUID | None
    body: str
    status: str  # pending, held (while disabled), delivered, failed
    attempts: int
    next_attempt_at: datetime
    first_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One try at delivering a message."""

    id: int
    delivery_id: str
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A leased delivery to send now, with its subscriber's URL and secrets."""

    id: str
    subscriber_id: UUID
    body: str
    attempts: int
    first_attempt_at: datetime | None
    url: str
    secrets: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Message:
    """One message for webhook subscribers: its id, type, lead and the exact body to sign."""

    event_id: UUID
    event_type: str
    lead_id: UUID | None
    body: str


async def enqueue(uow: UnitOfWork, messages: Sequence[Message]) -> None:
    """Queue every message for every subscriber wanting its type (one statement)."""
    if messages:
        await (await uow.driver()).execute(
            _ENQUEUE, [m.event_id for m in messages], [m.event_type for m in messages],
            [m.lead_id for m in messages], [m.body for m in messages])


async def insert_subscriber(conn: AsyncConnection, values: dict[str, Any]) -> SubscriberRow:
    """Add a subscriber."""
    return SubscriberRow(**(await conn.execute(
        insert(webhook_subscribers).values(**values).returning(*webhook_subscribers.c)
    )).one()._mapping)


SUBSCRIBER_ORDER = Keyset((webhook_subscribers.c.created_at, webhook_subscribers.c.id),
                          (datetime.fromisoformat, UUID))
"""Subscribers are listed oldest first."""

DELIVERY_ORDER = Keyset((webhook_deliveries.c.created_at, webhook_deliveries.c.id),
                        (datetime.fromisoformat, str), descending=True)
"""A subscriber's deliveries are listed newest first."""


async def list_subscribers(conn: AsyncConnection, cursor: str | None, limit: int
                           ) -> list[SubscriberRow]:
    """A page of subscribers, oldest first (limit + 1 rows: SUBSCRIBER_ORDER.page cuts it)."""
    return [SubscriberRow(**row._mapping) for row in await conn.execute(
        SUBSCRIBER_ORDER.select(select(webhook_subscribers), cursor, limit))]


async def get_subscriber(conn: AsyncConnection, subscriber_id: UUID) -> SubscriberRow | None:
    """A subscriber, or None."""
    row = (await conn.execute(
        select(webhook_subscribers).where(webhook_subscribers.c.id == subscriber_id)
    )).one_or_none()
    return None if row is None else SubscriberRow(**row._mapping)


async def lock_subscriber(conn: AsyncConnection, subscriber_id: UUID) -> SubscriberRow | None:
    """A subscriber, row-locked, or None."""
    row = (await conn.execute(
        select(webhook_subscribers).where(webhook_subscribers.c.id == subscriber_id)
        .with_for_update())).one_or_none()
    return None if row is None else SubscriberRow(**row._mapping)


async def update_subscriber(conn: AsyncConnection, subscriber_id: UUID,
                            changes: dict[str, Any]) -> SubscriberRow:
    """Apply changes to a subscriber and return it."""
    return SubscriberRow(**(await conn.execute(
        update(webhook_subscribers).where(webhook_subscribers.c.id == subscriber_id)
        .values(**changes, updated_at=func.now()).returning(*webhook_subscribers.c)
    )).one()._mapping)


async def deliveries_of(conn: AsyncConnection, subscriber_id: UUID, status: str | None,
                        cursor: str | None, limit: int) -> list[DeliveryRow]:
    """A page of a subscriber's deliveries, newest first (limit + 1 rows: DELIVERY_ORDER.page
    cuts it)."""
    statement = select(webhook_deliveries).where(
        webhook_deliveries.c.subscriber_id == subscriber_id)
    if status is not None:
        statement = statement.where(webhook_deliveries.c.status == status)
    return [DeliveryRow(**row._mapping)
            for row in await conn.execute(DELIVERY_ORDER.select(statement, cursor, limit))]


async def attempts_of(conn: AsyncConnection, delivery_ids: list[str]) -> list[AttemptRow]:
    """Every attempt of these deliveries, in order."""
    if not delivery_ids:
        return []
    return [AttemptRow(**row._mapping) for row in await conn.execute(
        select(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(delivery_ids))
        .order_by(webhook_attempts.c.delivery_id, webhook_attempts.c.attempt))]


async def claim_due(conn: AsyncConnection, now: datetime, lease_until: datetime,
                    limit: int) -> list[DueDelivery]:
    """Due deliveries of enabled subscribers, leased until `lease_until` so another worker
    (or this one after a crash, once the lease ends) does not send them meanwhile."""
    due = (
        select(webhook_deliveries.c.id)
        .join(webhook_subscribers,
              webhook_subscribers.c.id == webhook_deliveries.c.subscriber_id)
        .where(webhook_deliveries.c.status == "pending",
               webhook_deliveries.c.next_attempt_at <= now, webhook_subscribers.c.enabled)
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=webhook_deliveries, skip_locked=True)
    ).scalar_subquery()
    leased = (
        update(webhook_deliveries).where(webhook_deliveries.c.id.in_(due))
        .values(next_attempt_at=lease_until,
                first_attempt_at=func.coalesce(webhook_deliveries.c.first_attempt_at, now))
        .returning(webhook_deliveries.c.id, webhook_deliveries.c.subscriber_id,
                   webhook_deliveries.c.body, webhook_deliveries.c.attempts,
                   webhook_deliveries.c.first_attempt_at)
        .cte("leased")
    )
    return [DueDelivery(**row._mapping) for row in await conn.execute(
        select(leased, webhook_subscribers.c.url, webhook_subscribers.c.secrets)
        .join(webhook_subscribers, webhook_subscribers.c.id == leased.c.subscriber_id))]


async def record_outcomes(conn: AsyncConnection, outcomes: list[dict[str, Any]]) -> None:
    """Store each attempt's result on its delivery and in the log (two batched statements)."""
    if not outcomes:
        return
    await conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), attempts=bindparam("b_attempt"),
                next_attempt_at=bindparam("b_next"), last_status_code=bindparam("b_code"),
                last_error=bindparam("b_error"), delivered_at=bindparam("b_delivered")),
        [{f"b_{k}": v for k, v in o.items() if k in (
            "id", "status", "attempt", "next", "code", "error", "delivered")} for o in outcomes],
    )
    await conn.execute(webhook_attempts.insert(), [
        {"delivery_id": o["id"], "attempt": o["attempt"], "attempted_at": o["at"],
         "status_code": o["code"], "error": o["error"], "duration_ms": o["duration_ms"]}
        for o in outcomes])


async def release_held(conn: AsyncConnection, subscriber_id: UUID) -> int:
    """The subscriber is enabled again: its held messages and those left pending when it was
    disabled are due now, oldest first, each with a fresh retry window; returns how many."""
    released = await conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.subscriber_id == subscriber_id,
               webhook_deliveries.c.status.in_(("held", "pending")))
        .values(status="pending", first_attempt_at=None,
                next_attempt_at=func.least(webhook_deliveries.c.created_at, func.now())))
    return int(released.rowcount or 0)


async def disable(conn: AsyncConnection, subscriber_ids: list[UUID], reason: str) -> None:
    """Stop sending to these subscribers until an admin enables them again."""
    if subscriber_ids:
        await conn.execute(
            update(webhook_subscribers)
            .where(webhook_subscribers.c.id.in_(subscriber_ids), webhook_subscribers.c.enabled)
            .values(enabled=False, disabled_reason=reason, updated_at=func.now()))
