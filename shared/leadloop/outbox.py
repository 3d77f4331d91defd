"""Transactional outbox: rows written with the state change, published to Kafka by the relay.

The relay is woken in its own process by the commit that wrote the rows (`wake_relays`), and
through PostgreSQL LISTEN/NOTIFY by a writer with no relay beside it (a command-line tool, a
test); it polls as a fallback. No NOTIFY on the hot path: PostgreSQL serialises the commits of
all transactions that sent one, cluster-wide (a global lock held across the commit's WAL flush),
so a trigger on the outbox made every service's commits queue behind each other.

The relay claims rows with FOR UPDATE SKIP LOCKED, publishes them with the idempotent producer
(acks=all), and deletes them in the same transaction that holds the claim, so two replicas never
publish the same row: the outbox holds only what is still to be published. If the relay dies
after publishing but before committing, the rows are published again: consumers dedupe on the
CloudEvents id, which the row keeps.
"""

import asyncio
import logging
import math
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.driver import driver_in_transaction
from leadloop.events.envelope import CloudEvent
from leadloop.events.topology import topic_of
from leadloop.infra_tables import outbox
from leadloop.kafka import KeyPartitions
from leadloop.observability import EVENTS_PUBLISHED, OUTBOX_BACKLOG
from leadloop.retry import Backoff
from leadloop.tracing import producing

NOTIFY_CHANNEL = "leadloop_outbox"
log = logging.getLogger(__name__)

# The relays running in this process, by the engine whose outbox they publish.
_relays: "weakref.WeakKeyDictionary[AsyncEngine, set[Callable[[], None]]]" = (
    weakref.WeakKeyDictionary())


def relay_runs_here(engine: AsyncEngine) -> bool:
    """Whether a relay of `engine`'s outbox runs in this process (else a writer NOTIFYs)."""
    return bool(_relays.get(engine))


def wake_relays(engine: AsyncEngine) -> None:
    """Wake this process's relays of `engine`'s outbox, after a commit that wrote rows to it."""
    for wake in _relays.get(engine, ()):
        wake()


NOTIFY_STATEMENT = f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')"
"""Sent in the writing transaction by a writer with no relay in its process (see the module's
docstring): delivered at commit to every relay's LISTEN connection."""


# One statement for any number of rows: arrays unnested server-side, prepared once per
# connection. A multi-row VALUES list would be a different statement for every batch size.
_INSERT_ROWS = """
INSERT INTO outbox (event_id, topic, event_type, subject, source, occurred_at, traceparent, data)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::text[], $8::bytea[])"""
# The relay's claim: the oldest rows, deleted in the same statement and held by the transaction
# until the broker acknowledged them (a failed publish rolls the delete back), so a batch costs
# one statement. Deleting, not marking sent: an UPDATE writes the whole row (its event) to the
# WAL again, ~1.7 KB a row against ~0.13 KB for a delete, and leaves rows to purge later; Kafka
# keeps every event, so a published row has nothing left to tell. Prepared once per connection;
# SKIP LOCKED lets another replica claim the rows after these.
_CLAIM = """
DELETE FROM outbox AS o
USING (SELECT id FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) AS claimed
WHERE o.id = claimed.id
RETURNING o.id, o.event_id, o.topic, o.event_type, o.subject, o.source, o.occurred_at,
          o.traceparent, o.data"""


async def outbox_rows_for(driver: asyncpg.Connection, events: list[CloudEvent]) -> None:
    """Insert one outbox row per event, in one statement (`driver`: the transaction's
    connection, see UnitOfWork.driver)."""
    await driver.execute(
        _INSERT_ROWS,
        [event.id for event in events],
        [topic_of(event.source) for event in events],
        [event.type for event in events],
        [event.subject for event in events],
        [event.source for event in events],
        [event.time for event in events],
        [event.traceparent for event in events],
        [orjson.dumps(event.data) for event in events])


def _event_of(row: asyncpg.Record) -> CloudEvent:
    """The CloudEvent an outbox row describes (its data stays as the stored bytes)."""
    return CloudEvent(
        type=row["event_type"],
        source=row["source"],
        subject=row["subject"],
        data={},
        id=row["event_id"],
        time=row["occurred_at"],
        traceparent=row["traceparent"],
    )


@dataclass(frozen=True)
class RelayTuning:
    """How much the relay claims at once and how often it looks without a NOTIFY."""

    batch_size: int = 500
    poll_interval_s: float = 1.0
    publish_timeout_s: float = 30.0
    # The backlog gauge costs a count query: refreshed at most this often while busy.
    backlog_refresh_s: float = 5.0


class OutboxRelay:
    """Publishes a service's outbox rows to Kafka, in order of insertion."""

    def __init__(self, *, service: str, engine: AsyncEngine, producer: AIOKafkaProducer,
                 listen_dsn: str, tuning: RelayTuning = RelayTuning()) -> None:
        self._service = service
        self._engine = engine
        self._producer = producer
        self._listen_dsn = listen_dsn
        self._tuning = tuning
        self._backlog_refreshed = -math.inf  # time.monotonic() of the last refresh
        self._partitions = KeyPartitions(producer)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.listening = asyncio.Event()  # set while NOTIFYs reach us
        self.idle = asyncio.Event()  # set while waiting for a NOTIFY or the next poll

    def stop(self) -> None:
        """Ask the relay to finish its current batch and return."""
        self._stopping.set()
        self._wake.set()

    async def publish_batch(self) -> int:
        """Claim, publish and delete one batch of rows; returns how many were sent."""
        async with self._engine.begin() as conn:
            driver = await driver_in_transaction(conn)
            # RETURNING does not keep the subquery's order: rows go out in insertion order.
            claimed = await driver.fetch(_CLAIM, self._tuning.batch_size)
            rows = sorted(claimed, key=lambda r: r["id"])
            if not rows:
                return 0
            with producing(lambda: ((row["topic"], row["traceparent"], str(row["event_id"]),
                                     row["subject"]) for row in rows)):
                deliveries = await self._send(rows)
                # Every record acknowledged by the broker, or the claim rolls back and is
                # retried: a produce that never completes must not hold the rows forever.
                await asyncio.wait_for(asyncio.gather(*deliveries), self._tuning.publish_timeout_s)
        for topic, count in Counter(row["topic"] for row in rows).items():
            EVENTS_PUBLISHED.labels(self._service, topic).inc(count)
        return len(rows)

    async def _send(self, rows: list[asyncpg.Record]) -> list[asyncio.Future[Any]]:
        """Hand the rows to the producer a record batch per partition (several when one fills
        up), in row order within each partition, so each lead's events keep theirs: cheaper
        than a send per record, which costs a future, a partitioner call and an accumulator
        lookup each."""
        deliveries: list[asyncio.Future[Any]] = []
        open_batches: dict[tuple[str, int], Any] = {}
        for row in rows:
            key, _, headers = _event_of(row).to_kafka()
            topic = row["topic"]
            partition = await self._partitions.of(topic, key)
            batch = open_batches.get((topic, partition))
            if batch is None or batch.append(timestamp=None, key=key, value=row["data"],
                                             headers=headers) is None:
                if batch is not None:  # full: send it, go on in a new one
                    deliveries.append(await self._producer.send_batch(
                        batch, topic, partition=partition))
                batch = open_batches[(topic, partition)] = self._producer.create_batch()
                batch.append(timestamp=None, key=key, value=row["data"], headers=headers)
        for (topic, partition), batch in open_batches.items():
            deliveries.append(await self._producer.send_batch(batch, topic, partition=partition))
        return deliveries

    async def backlog(self) -> int:
        """How many rows wait to be published."""
        async with self._engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(outbox))
        return int(count or 0)

    async def run(self) -> None:
        """Publish until stopped; transient failures back off and retry, rows are never skipped."""
        listener = asyncio.create_task(self._listen())
        backoff = Backoff()
        _relays.setdefault(self._engine, set()).add(self._wake.set)
        try:
            while not self._stopping.is_set():
                # Cleared before the claim, not after: a NOTIFY for rows committed while this
                # batch is published must wake the next round, not wait for the poll interval.
                self._wake.clear()
                try:
                    sent = await self.publish_batch()
                    backoff.reset()
                    # Under load the relay is never idle for a whole poll interval, so the
                    # gauge is refreshed here too (throttled), not only when the wait times out.
                    if time.monotonic() - self._backlog_refreshed >= self._tuning.backlog_refresh_s:
                        await self._refresh_backlog()
                except Exception:  # database or broker down: wait and retry
                    log.warning("outbox relay could not publish; retrying", exc_info=True)
                    await backoff.sleep()
                    continue
                if sent >= self._tuning.batch_size:
                    continue
                if self._stopping.is_set():
                    break
                self.idle.set()
                try:
                    await asyncio.wait_for(self._wake.wait(), self._tuning.poll_interval_s)
                except TimeoutError:
                    await self._refresh_backlog()
                finally:
                    self.idle.clear()
        finally:
            _relays.get(self._engine, set()).discard(self._wake.set)
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def _refresh_backlog(self) -> None:
        self._backlog_refreshed = time.monotonic()
        try:
            backlog = await self.backlog()
        except Exception:  # a metric must not stop the relay
            backlog = -1
        OUTBOX_BACKLOG.labels(self._service).set(backlog)

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
