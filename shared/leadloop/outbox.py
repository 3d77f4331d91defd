"""Transactional outbox: rows written with the state change, published to Kafka by the relay.

The relay wakes on PostgreSQL LISTEN/NOTIFY (a trigger notifies on insert) and polls as a
fallback. It claims rows with FOR UPDATE SKIP LOCKED, publishes them with the idempotent producer
(acks=all), and marks them sent in the same transaction that holds the claim, so two replicas
never publish the same row. If the relay dies after publishing but before committing, the rows
are published again: consumers dedupe on the CloudEvents id, which the row keeps.
"""

import asyncio
import logging
import math
import time
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from sqlalchemy import BigInteger, any_, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leadloop.events.envelope import CloudEvent
from leadloop.events.topology import topic_of
from leadloop.infra_tables import outbox
from leadloop.observability import EVENTS_PUBLISHED, OUTBOX_BACKLOG
from leadloop.retry import Backoff

NOTIFY_CHANNEL = "leadloop_outbox"
log = logging.getLogger(__name__)


# One statement shape for any number of rows: arrays unnested server-side. A multi-row VALUES
# list would be a different statement for every batch size, each prepared anew by asyncpg.
_INSERT_ROWS = text(
    "INSERT INTO outbox (event_id, topic, event_type, subject, source, occurred_at, traceparent,"
    " data) SELECT * FROM unnest(CAST(:event_id AS text[]), CAST(:topic AS text[]),"
    " CAST(:event_type AS text[]), CAST(:subject AS text[]), CAST(:source AS text[]),"
    " CAST(:occurred_at AS timestamptz[]), CAST(:traceparent AS text[]), CAST(:data AS bytea[]))"
)
_MARK_SENT = (
    update(outbox)
    .where(outbox.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
    .values(sent_at=func.now())
)


async def outbox_rows_for(connection: AsyncConnection, events: list[CloudEvent]) -> None:
    """Insert one outbox row per event, in one statement."""
    await connection.execute(_INSERT_ROWS, {
        "event_id": [event.id for event in events],
        "topic": [topic_of(event.source) for event in events],
        "event_type": [event.type for event in events],
        "subject": [event.subject for event in events],
        "source": [event.source for event in events],
        "occurred_at": [event.time for event in events],
        "traceparent": [event.traceparent for event in events],
        "data": [orjson.dumps(event.data) for event in events],
    })


def _event_of(row: Any) -> CloudEvent:
    """The CloudEvent an outbox row describes (its data stays as the stored bytes)."""
    return CloudEvent(
        type=row.event_type,
        source=row.source,
        subject=row.subject,
        data={},
        id=row.event_id,
        time=row.occurred_at,
        traceparent=row.traceparent,
    )


class OutboxRelay:
    """Publishes a service's outbox rows to Kafka, in order of insertion."""

    def __init__(self, *, service: str, engine: AsyncEngine, producer: AIOKafkaProducer,
                 listen_dsn: str, batch_size: int = 500, poll_interval_s: float = 1.0,
                 retention_hours: float = 24.0, publish_timeout_s: float = 30.0,
                 backlog_refresh_s: float = 5.0) -> None:
        self._service = service
        self._engine = engine
        self._producer = producer
        self._listen_dsn = listen_dsn
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._retention_hours = retention_hours
        self._publish_timeout_s = publish_timeout_s
        # The backlog gauge costs a count query: refreshed at most this often while busy.
        self._backlog_refresh_s = backlog_refresh_s
        self._backlog_refreshed = -math.inf  # time.monotonic() of the last refresh
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.listening = asyncio.Event()  # set while NOTIFYs reach us
        self.idle = asyncio.Event()  # set while waiting for a NOTIFY or the next poll

    def stop(self) -> None:
        """Ask the relay to finish its current batch and return."""
        self._stopping.set()
        self._wake.set()

    async def publish_batch(self) -> int:
        """Claim, publish and mark one batch of unsent rows; returns how many were sent."""
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.id, outbox.c.event_id, outbox.c.topic, outbox.c.event_type,
                           outbox.c.subject, outbox.c.source, outbox.c.occurred_at,
                           outbox.c.traceparent, outbox.c.data)
                    .where(outbox.c.sent_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            deliveries = []
            for row in rows:
                key, _, headers = _event_of(row).to_kafka()
                deliveries.append(
                    await self._producer.send(row.topic, value=row.data, key=key, headers=headers)
                )
            # Every record acknowledged by the broker, or the claim rolls back and is retried:
            # a produce that never completes must not hold the rows forever.
            await asyncio.wait_for(asyncio.gather(*deliveries), self._publish_timeout_s)
            await conn.execute(_MARK_SENT, {"ids": [r.id for r in rows]})
        for row in rows:
            EVENTS_PUBLISHED.labels(self._service, row.topic).inc()
        return len(rows)

    async def backlog(self) -> int:
        """How many rows wait to be published."""
        async with self._engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
            )
        return int(count or 0)

    async def purge_sent(self, older_than: datetime | None = None) -> None:
        """Delete rows sent longer ago than the retention period."""
        async with self._engine.begin() as conn:
            cutoff = older_than or text(
                f"now() - interval '{float(self._retention_hours)} hours'"
            )
            await conn.execute(
                delete(outbox).where(outbox.c.sent_at.is_not(None), outbox.c.sent_at < cutoff)
            )

    async def run(self) -> None:
        """Publish until stopped; transient failures back off and retry, rows are never skipped."""
        listener = asyncio.create_task(self._listen())
        backoff = Backoff()
        polls = 0
        try:
            while not self._stopping.is_set():
                try:
                    sent = await self.publish_batch()
                    backoff.reset()
                    # Under load the relay is never idle for a whole poll interval, so the
                    # gauge is refreshed here too (throttled), not only when the wait times out.
                    if time.monotonic() - self._backlog_refreshed >= self._backlog_refresh_s:
                        await self._refresh_backlog()
                except Exception:  # database or broker down: wait and retry
                    log.warning("outbox relay could not publish; retrying", exc_info=True)
                    await backoff.sleep()
                    continue
                if sent >= self._batch_size:
                    continue
                polls += 1
                if polls % 60 == 1:
                    await self._housekeeping()
                self._wake.clear()
                if self._stopping.is_set():
                    break  # stop() may have come during the batch; its wake-up was just cleared
                self.idle.set()
                try:
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
                except TimeoutError:
                    await self._refresh_backlog()
                finally:
                    self.idle.clear()
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def _refresh_backlog(self) -> None:
        self._backlog_refreshed = time.monotonic()
        try:
            backlog = await self.backlog()
        except Exception:  # a metric must not stop the relay
            backlog = -1
        OUTBOX_BACKLOG.labels(self._service).set(backlog)

    async def _housekeeping(self) -> None:
        try:
            await self.purge_sent()
        except Exception:  # purge is best effort; the next round tries again
            log.warning("outbox purge failed", exc_info=True)

    async def _listen(self) -> None:
        """Hold a LISTEN connection and wake the relay on every NOTIFY; reconnect when lost."""
        backoff = Backoff()
        while not self._stopping.is_set():
            try:
                conn = await asyncpg.connect(self._listen_dsn)
            except Exception:  # database down: polling covers us meanwhile
                await backoff.sleep()
                continue
            backoff.reset()
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                await conn.add_listener(NOTIFY_CHANNEL, lambda *_a: self._wake.set())
                self.listening.set()
                self._wake.set()  # rows may have arrived while we were not listening
                await lost.wait()
            except Exception:
                log.warning("outbox LISTEN connection lost", exc_info=True)
            finally:
                self.listening.clear()
                if not conn.is_closed():
                    await conn.close()
