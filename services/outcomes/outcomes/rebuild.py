"""Rebuild the read model from the Kafka history: drop it, replay every topic from the start.

`python -m outcomes.rebuild` (or `POST /v1/read-model/rebuild`). The replay goes through the same
handlers as live consumption, inside one transaction: readers see the old numbers until the new
ones are complete. The read model's tables are truncated *before* the end offsets are read, so an
event the live consumer applied before the truncate is at an offset the replay covers, and one it
applies later waits for the truncate's lock and then lands on the rebuilt tables (handlers are
idempotent, so an event applied twice changes nothing). Needs topics kept forever
(retention.ms=-1), as an event log should be.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, replace

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.db import UnitOfWork, create_engine
from leadloop.events import CloudEvent, EnvelopeError, EventData, parse_event
from leadloop.events.topology import CONSUMES, topic_of
from leadloop.handlers import Handlers, Item
from leadloop.keyring import KeyUnavailable, known_keys, reveal_event
from leadloop.pii import PiiError
from outcomes import repository
from outcomes.config import OutcomesSettings
from outcomes.handlers import HANDLERS

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


async def _partitions(bootstrap_servers: str, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics, from the broker's metadata."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers,
                                client_id="outcomes-rebuild-admin")
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [TopicPartition(topic["topic"], p["partition"]) for topic in described
            for p in topic["partitions"]]


Delivery = tuple[CloudEvent, EventData]


async def _decode(engine: AsyncEngine, records: list[ConsumerRecord[bytes, bytes]],
                  handlers: Handlers) -> tuple[list[Delivery], int]:
    """The records outcomes handles, decoded; and how many could not be (the live consumer
    dead-lettered those). An erased lead's events come with their personal fields emptied:
    the anonymous funnel row still counts them."""
    deliveries = []
    skipped = 0
    keys = await known_keys(engine, (r.key.decode("utf-8", "replace") for r in records if r.key))
    for record in records:
        try:
            envelope = CloudEvent.from_kafka(record.value, record.headers)
            if envelope.type in handlers:
                data = await reveal_event(engine, envelope, wait_s=0, keep_erased=True,
                                          known=keys)
                assert data is not None
                envelope = replace(envelope, data=data)
                deliveries.append((envelope, parse_event(envelope.type, envelope.data)))
        except (EnvelopeError, ValidationError, KeyUnavailable, PiiError):
            skipped += 1
    return deliveries, skipped


async def _apply(uow: UnitOfWork, deliveries: list[Delivery],
                 handlers: Handlers) -> tuple[int, int]:
    """Apply a batch in a savepoint; on failure, one by one, skipping what fails (as the live
    consumer dead-letters it). Returns (applied, skipped)."""
    skipped = 0
    try:
        async with uow.connection.begin_nested():
            await handlers.apply(uow, [Item(event, envelope) for envelope, event in deliveries])
        return len(deliveries), skipped
    except Exception:  # isolate the failing event below
        log.info("replay batch failed; applying its events one by one", exc_info=True)
    applied = 0
    for envelope, event in deliveries:
        try:
            async with uow.connection.begin_nested():
                await handlers.apply(uow, [Item(event, envelope)])
            applied += 1
        except Exception:
            log.warning("event %s cannot be applied; skipped", envelope.id, exc_info=True)
            skipped += 1
    return applied, skipped


async def rebuild_read_model(engine: AsyncEngine, bootstrap_servers: str,
                             handlers: Handlers = HANDLERS) -> RebuildResult:
    """Truncate the read model and replay every consumed topic from its first offset."""
    started = time.perf_counter()
    topics = [topic_of(service) for service in CONSUMES["outcomes"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_poll_records=2000, client_id="outcomes-rebuild")
    await consumer.start()
    events = skipped = 0
    erasures: list[Delivery] = []
    try:
        async with UnitOfWork(engine, "outcomes") as uow:
            await repository.clear_read_model(uow.connection)
            partitions = await _partitions(bootstrap_servers, topics)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            remaining = {tp for tp, end in ends.items() if end > starts[tp]}
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=1000)
                records = [r for tp, batch in batches.items() for r in batch
                           if r.offset < ends[tp]]
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
                deliveries, undecodable = await _decode(engine, records, handlers)
                erasures += [d for d in deliveries if d[0].type == ERASED]
                applied, failed = await _apply(
                    uow, [d for d in deliveries if d[0].type != ERASED], handlers)
                events, skipped = events + applied, skipped + failed + undecodable
            applied, failed = await _apply(uow, erasures, handlers)
            events, skipped = events + applied, skipped + failed
            leads = await repository.count_funnel_leads(uow.connection)
            await uow.commit()
    finally:
        await consumer.stop()
    return RebuildResult(events, skipped, leads, round(time.perf_counter() - started, 3))


async def _main() -> None:
    settings = OutcomesSettings()
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        result = await rebuild_read_model(engine, settings.kafka_bootstrap_servers)
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
