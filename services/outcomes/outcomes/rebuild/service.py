"""Rebuild the read model from the Kafka history into fresh tables, then swap them in.

`python -m outcomes.rebuild` (or `POST /v1/read-model/rebuild`, which runs it in a thread of
the service beside its event loop). Reports keep answering from the live tables, with the old
numbers, the whole time; only the swap at the end holds them up, for a few catalog changes.

1. Fresh, empty tables like the live ones are created in a staging schema
   (outcomes.rebuild.staging).
2. Every consumed topic is replayed from its first offset up to the end offsets read at the
   start, through the same batch handlers as live consumption, in one transaction per fetched
   batch whose `search_path` puts the staging schema first. Erasures are applied after the rest
   of a stretch: topics interleave differently on every replay, and an erasure seen before a
   lead's other events would leave them out of its anonymous row (live, an erasure comes after
   the lead's events: the pipeline stops acting on an erased lead). Last in each stretch is as
   good as last of all: an event produced before an erasure lies below the end offsets of the
   erasure's stretch too. The secondary indexes are built once the first stretch is loaded.
3. Meanwhile the live consumer keeps applying new events to the live tables. The rebuild
   catches up in stretches (new end offsets, replay up to them) until little is left.
4. One transaction: lock the live tables against writers (EXCLUSIVE: reports still read them),
   read the end offsets again, replay the rest into the staging tables, take ACCESS EXCLUSIVE
   and swap the tables (rename into place), commit.

Why nothing the live consumer applies is lost: every event it applied before the lock was
produced before the final end offsets were read, so the replay covers it; an event it applies
after that waits for the lock and, once the swap commits, lands on the new tables (PostgreSQL
looks the table name up again). An event applied twice changes nothing: the handlers' merge
rules are idempotent. Pausing the live consumer instead would need a signal to every replica;
applying live events to both table sets would couple the consumer to rebuilds.

Two rebuilds never run at once (an advisory lock); one that stops half-way leaves the live
tables untouched, and the next drops its staging schema. Needs topics kept forever
(retention.ms=-1), as an event log should be.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.connections import DatabaseTls, KafkaAddress
from leadloop.consumer import Delivery, apply_isolating, decode, envelope_of, in_causal_order
from leadloop.db import UnitOfWork, create_engine
from leadloop.events import CloudEvent
from leadloop.events.topology import CONSUMES, topic_of
from leadloop.handlers import Handlers, Item
from leadloop.kafka import create_admin, create_consumer
from leadloop.keyring import KeyUnavailable, known_keys
from leadloop.pii import PiiError
from outcomes.config import OutcomesSettings
from outcomes.funnel import repository
from outcomes.handlers import HANDLERS
from outcomes.rebuild import staging

log = logging.getLogger(__name__)

# Erasures are applied after everything else: topics interleave differently on every replay,
# and an erasure seen before a lead's other events would leave them out of its anonymous row.
# Live, an erasure comes after the lead's events (the pipeline stops acting on an erased lead).
ERASED = "leadloop.lead.erased.v1"


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What a rebuild replayed."""

    events: int
    skipped: int
    leads: int
    seconds: float


async def _partitions(bootstrap_servers: KafkaAddress, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics, from the broker's metadata."""
    admin = create_admin(bootstrap_servers,
                                client_id="outcomes-rebuild-admin")
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [TopicPartition(topic["topic"], p["partition"]) for topic in described
            for p in topic["partitions"]]


async def _decode(engine: AsyncEngine, records: list[ConsumerRecord[bytes, bytes]],
                  handlers: Handlers) -> tuple[list[Delivery], int]:
    """The records outcomes handles, decoded by the consumer runner's steps and in its order;
    and how many could not be (the live consumer dead-lettered those). An erased lead's
    events come with their personal fields emptied: the anonymous funnel row still counts
    them."""
    skipped = 0
    envelopes: list[tuple[ConsumerRecord[bytes, bytes], CloudEvent, bool]] = []
    for record in records:
        try:
            found = envelope_of(record, handlers)
        except Exception:  # not an event: parked by the live consumer
            skipped += 1
            continue
        if found is not None:
            envelopes.append((record, *found))
    keys = await known_keys(engine, {e.subject for _r, e, sealed in envelopes if sealed})
    deliveries = []
    for n, (record, envelope, sealed) in enumerate(envelopes, 1):
        try:
            delivery = decode(record, envelope, sealed, keys, keep_erased=True,
                              fields=handlers.personal_fields(envelope.type))
        except (KeyUnavailable, PiiError, ValidationError):
            skipped += 1
            continue
        if delivery is not None:
            deliveries.append(delivery)
        if n % DECODE_SLICE == 0:
            await asyncio.sleep(0)  # let the service answer requests between slices
    return in_causal_order(deliveries), skipped


async def _apply(uow: UnitOfWork, deliveries: list[Delivery],
                 handlers: Handlers) -> tuple[int, int]:
    """Apply a batch the runner's way (halves, down to the failing event alone), each part in
    a savepoint; an event that fails alone is skipped (the live consumer dead-lettered it).
    Returns (applied, skipped)."""
    applied = skipped = 0

    async def apply_batch(batch: list[Delivery]) -> bool:
        nonlocal applied
        try:
            async with uow.connection.begin_nested():
                await handlers.apply(uow, [Item(d.event, d.envelope) for d in batch])
        except Exception:  # isolated by halves
            log.info("replay batch failed; isolating the failing event", exc_info=True)
            return False
        applied += len(batch)
        return True

    async def apply_one(delivery: Delivery) -> None:
        nonlocal skipped
        if not await apply_batch([delivery]):
            log.warning("event %s cannot be applied; skipped", delivery.envelope.id)
            skipped += 1

    await apply_isolating(deliveries, apply_batch, apply_one)
    return applied, skipped


# Records applied in one transaction (at most), and decoded between two turns of the event loop:
# the rebuild runs inside the service, whose requests must not wait for a whole batch.
BATCH_RECORDS = 4_000
DECODE_SLICE = 200
# The rebuild goes on catching up outside the lock while a stretch is longer than this, at most
# CATCH_UP_ROUNDS times; what is left is replayed under the writers' lock.
FINAL_STRETCH = 2_000
CATCH_UP_ROUNDS = 5
_REBUILD_LOCK = 0x6F7574636F6D6573  # pg_advisory_lock key: one rebuild at a time


async def _fetch_until(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]
                       ) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
    """The records from each partition's position up to (not including) its end offset, a
    fetched batch at a time. A partition read past its end is set back to it, so the next
    stretch starts there."""
    remaining = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    while remaining:
        records: list[ConsumerRecord[bytes, bytes]] = []
        timeout_ms = 1000
        # What has been fetched already, up to a batch: fewer, larger transactions.
        while remaining and len(records) < BATCH_RECORDS:
            batches = await consumer.getmany(*remaining, timeout_ms=timeout_ms,
                                             max_records=BATCH_RECORDS - len(records))
            if not batches:
                break
            timeout_ms = 0
            for tp, batch in batches.items():
                records += [r for r in batch if r.offset < ends[tp]]
                if batch and batch[-1].offset >= ends[tp]:
                    consumer.seek(tp, ends[tp])
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        if records:
            yield records


@dataclass
class _Replay:
    """A rebuild under way: where it reads from, and what it has applied."""

    engine: AsyncEngine
    consumer: AIOKafkaConsumer
    partitions: list[TopicPartition]
    handlers: Handlers
    events: int = 0
    skipped: int = 0

    async def stretch(self, ends: dict[TopicPartition, int], uow: UnitOfWork | None = None,
                      before_erasures: Callable[[UnitOfWork], Awaitable[None]] | None = None,
                      ) -> None:
        """Replay up to `ends` into the staging tables, erasures last: in `uow` when given,
        else one transaction per fetched batch."""
        erasures: list[Delivery] = []
        applying: asyncio.Task[None] | None = None
        try:
            async for records in _fetch_until(self.consumer, ends):
                deliveries, undecodable = await _decode(self.engine, records, self.handlers)
                self.skipped += undecodable
                erasures += [d for d in deliveries if d.envelope.type == ERASED]
                if applying is not None:
                    await applying
                rest = [d for d in deliveries if d.envelope.type != ERASED]
                if uow is None:
                    # The database writes this batch while the next one is fetched and decoded.
                    applying = asyncio.create_task(self._apply(rest, uow))
                else:
                    await self._apply(rest, uow)
            if applying is not None:
                await applying
        finally:
            if applying is not None and not applying.done():
                applying.cancel()
        if before_erasures is not None or erasures:
            async with _staging_uow(self.engine, uow) as erasing:
                if before_erasures is not None:
                    await before_erasures(erasing)
                await self._apply(erasures, erasing)
                if uow is None:
                    await erasing.commit()

    async def _apply(self, deliveries: list[Delivery], uow: UnitOfWork | None) -> None:
        if not deliveries:
            return
        async with _staging_uow(self.engine, uow) as applying:
            applied, failed = await _apply(applying, deliveries, self.handlers)
            if uow is None:
                await applying.commit()
        self.events, self.skipped = self.events + applied, self.skipped + failed

    async def end_offsets(self) -> dict[TopicPartition, int]:
        """Each partition's end offset now."""
        ends: dict[TopicPartition, int] = await self.consumer.end_offsets(self.partitions)
        return ends

    async def behind(self, ends: dict[TopicPartition, int]) -> int:
        """How many records lie between the positions and `ends`."""
        return sum([max(0, end - await self.consumer.position(tp)) for tp, end in ends.items()])


@asynccontextmanager
async def _staging_uow(engine: AsyncEngine, uow: UnitOfWork | None
                       ) -> AsyncIterator[UnitOfWork]:
    """`uow` (already on the staging tables), or a new unit of work on them."""
    if uow is not None:
        yield uow
        return
    async with UnitOfWork(engine, "outcomes") as fresh:
        await staging.use_staging_tables(fresh.connection)
        yield fresh


async def rebuild_read_model(engine: AsyncEngine, bootstrap_servers: KafkaAddress,
                             handlers: Handlers = HANDLERS,
                             topics: list[str] | None = None) -> RebuildResult:
    """Replay every consumed topic (or `topics`) from its first offset into fresh tables and
    swap them in."""
    started = time.perf_counter()
    topics = topics or [topic_of(service) for service in CONSUMES["outcomes"]]
    consumer = create_consumer(kafka=bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_poll_records=2000, client_id="outcomes-rebuild")
    await consumer.start()
    try:
        async with engine.connect() as guard:
            await guard.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _REBUILD_LOCK})
            await guard.commit()
            try:
                result = await _rebuild(engine, consumer, bootstrap_servers, topics, handlers)
            finally:
                await guard.execute(text("SELECT pg_advisory_unlock(:key)"),
                                    {"key": _REBUILD_LOCK})
                await guard.commit()
    finally:
        await consumer.stop()
    events, skipped, leads = result
    return RebuildResult(events, skipped, leads, round(time.perf_counter() - started, 3))


async def _rebuild(engine: AsyncEngine, consumer: AIOKafkaConsumer, bootstrap_servers: KafkaAddress,
                   topics: list[str], handlers: Handlers) -> tuple[int, int, int]:
    async with engine.begin() as conn:
        live = await staging.live_schema(conn)
        await staging.create_staging_tables(conn, live)
    partitions = await _partitions(bootstrap_servers, topics)
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    replay = _Replay(engine, consumer, partitions, handlers)

    async def index(uow: UnitOfWork) -> None:
        await staging.create_staging_indexes(uow.connection, live)
    await replay.stretch(await replay.end_offsets(), before_erasures=index)
    for _ in range(CATCH_UP_ROUNDS):
        ends = await replay.end_offsets()
        if await replay.behind(ends) <= FINAL_STRETCH:
            break
        await replay.stretch(ends)

    async with UnitOfWork(engine, "outcomes") as uow:
        await staging.lock_live_tables(uow.connection, live, "EXCLUSIVE")
        await staging.use_staging_tables(uow.connection)
        await replay.stretch(await replay.end_offsets(), uow)
        await staging.lock_live_tables(uow.connection, live, "ACCESS EXCLUSIVE")
        await staging.swap_in_staging_tables(uow.connection, live)
        leads = await repository.count_funnel_leads(uow.connection)
        await uow.commit()
    async with engine.begin() as conn:
        await staging.drop_leftovers(conn)
    return replay.events, replay.skipped, leads


async def rebuild_beside_the_service(database_url: str, bootstrap_servers: KafkaAddress,
                                     tls: DatabaseTls | None = None) -> RebuildResult:
    """`rebuild_read_model` in a thread of its own, with its own event loop and connections:
    decoding the history is CPU work, and on the service's loop it would hold up every request
    for a slice at a time; in a thread it gets the interpreter for a few milliseconds at a time
    and the service's loop keeps answering reports."""
    async def rebuild() -> RebuildResult:
        engine = create_engine(database_url, pool_size=3, tls=tls)
        try:
            return await rebuild_read_model(engine, bootstrap_servers)
        finally:
            await engine.dispose()
    return await asyncio.to_thread(asyncio.run, rebuild())


async def _main() -> None:
    settings = OutcomesSettings()
    engine = create_engine(settings.database_url, pool_size=2, tls=settings.database_tls)
    try:
        result = await rebuild_read_model(engine, settings.kafka)
    finally:
        await engine.dispose()
    print(f"rebuilt the read model from {result.events} events ({result.skipped} skipped): "
          f"{result.leads} leads in {result.seconds:.1f}s")


def main() -> None:
    """`python -m outcomes.rebuild` / `leadloop rebuild`."""
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_main())


if __name__ == "__main__":
    main()
