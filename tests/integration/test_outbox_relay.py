"""The outbox relay: every committed row reaches Kafka once, even with two replicas."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.db import UnitOfWork, create_engine
from leadloop.events.models import LeadErased, event_time_now
from leadloop.infra_tables import outbox
from leadloop.kafka import close_producer, create_producer
from leadloop.outbox import OutboxRelay, RelayTuning
from tests.integration.conftest import Sandbox
from tests.support import TopicReader, eventually

pytestmark = pytest.mark.asyncio


async def _write_events(sandbox: Sandbox, count: int, per_transaction: int = 100,
                        engine: AsyncEngine | None = None) -> set[str]:
    ids: set[str] = set()
    for _ in range(count // per_transaction):
        async with UnitOfWork(engine or sandbox.engine, sandbox.service) as uow:
            for _ in range(per_transaction):
                ids.add(uow.publish(LeadErased(lead_id=uuid.uuid4(),
                                               erased_at=event_time_now())).id)
            await uow.commit()
    return ids


def _relay(sandbox: Sandbox, producer: AIOKafkaProducer, **kw: float) -> OutboxRelay:
    return OutboxRelay(service=sandbox.service, engine=sandbox.engine, producer=producer,
                       listen_dsn=sandbox.database_url.replace("+asyncpg", ""),
                       tuning=RelayTuning(batch_size=50, **kw))


async def test_two_relay_replicas_publish_every_row_exactly_once(sandbox: Sandbox) -> None:
    written = await _write_events(sandbox, 2000)
    producers = [create_producer(sandbox.bootstrap_servers, "test") for _ in range(2)]
    for p in producers:
        await p.start()
    relays = [_relay(sandbox, p) for p in producers]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        async with TopicReader(sandbox.bootstrap_servers, sandbox.topic) as reader:
            events = await reader.wait_for(lambda evs: len(evs) >= 2000)
            events = await reader.poll()  # one more fetch: a double would show up here
        published = [e.id for e in events]
        assert len(published) == 2000
        assert set(published) == written
        async with sandbox.engine.connect() as conn:
            unsent = await conn.scalar(select(func.count()).select_from(outbox))
        assert unsent == 0
    finally:
        for r in relays:
            r.stop()
        await asyncio.gather(*tasks)
        for p in producers:
            await close_producer(p)


@pytest.mark.parametrize("writer", ["this process", "another process"])
async def test_relay_wakes_on_a_commit_long_before_its_poll_interval(sandbox: Sandbox,
                                                                     writer: str) -> None:
    """A commit in the relay's own process wakes it directly; a writer with no relay beside it
    (another engine: another process, as far as the relay can tell) wakes it by NOTIFY."""
    producer = create_producer(sandbox.bootstrap_servers, "test")
    await producer.start()
    relay = _relay(sandbox, producer, poll_interval_s=300)
    task = asyncio.create_task(relay.run())
    other = create_engine(sandbox.database_url) if writer == "another process" else None
    try:
        async with TopicReader(sandbox.bootstrap_servers, sandbox.topic) as reader:
            await reader.poll()
            await asyncio.wait_for(relay.listening.wait(), 20)
            await asyncio.wait_for(relay.idle.wait(), 20)  # nothing to do: it waits
            written = await _write_events(sandbox, 1, per_transaction=1, engine=other)
            events = await reader.wait_for(lambda evs: len(evs) == 1, timeout_s=20)
        assert {e.id for e in events} == written
    finally:
        relay.stop()
        await task
        await close_producer(producer)
        if other is not None:
            await other.dispose()


async def test_backlog_gauge_follows_a_relay_that_is_never_idle_long(sandbox: Sandbox) -> None:
    """/metrics' outbox backlog is refreshed after batches, not only when a poll interval
    passes without work (which never happens while events keep coming)."""
    # The backlog is there before the relay starts: its first refresh sees rows still unsent,
    # so only refreshes after later batches can bring the gauge to 0.
    await _write_events(sandbox, 200)
    producer = create_producer(sandbox.bootstrap_servers, "test")
    await producer.start()
    relay = _relay(sandbox, producer, poll_interval_s=300, backlog_refresh_s=0)
    task = asyncio.create_task(relay.run())

    def gauge() -> float | None:
        return REGISTRY.get_sample_value("leadloop_outbox_backlog", {"service": sandbox.service})
    try:
        async with TopicReader(sandbox.bootstrap_servers, sandbox.topic) as reader:
            await reader.wait_for(lambda evs: len(evs) == 200)

        async def drained() -> None:
            assert gauge() == 0
        await eventually(drained)
    finally:
        relay.stop()
        await task
        await close_producer(producer)


async def test_published_rows_leave_the_outbox_and_unacknowledged_ones_stay(
        sandbox: Sandbox) -> None:
    """The outbox holds only what is still to be published: a batch the broker acknowledged is
    deleted; a batch whose acknowledgement did not come in time is kept whole (the claim rolls
    back) and goes out again with the next claim."""
    written = await _write_events(sandbox, 3, per_transaction=3)
    producer = create_producer(sandbox.bootstrap_servers, "test")
    await producer.start()
    try:
        impatient = _relay(sandbox, producer, publish_timeout_s=0)  # no ack comes that fast
        with pytest.raises(TimeoutError):
            await impatient.publish_batch()
        async with sandbox.engine.connect() as conn:
            assert set(await conn.scalars(select(outbox.c.event_id))) == written
        assert await _relay(sandbox, producer).publish_batch() == 3
    finally:
        await close_producer(producer)
    async with sandbox.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(outbox)) == 0

async def test_each_leads_events_go_in_order_to_the_partition_its_key_hashes_to(
        sandbox: Sandbox) -> None:
    leads = [uuid.uuid4() for _ in range(6)]
    written: dict[str, list[str]] = {str(lead): [] for lead in leads}
    async with UnitOfWork(sandbox.engine, sandbox.service) as uow:
        for _ in range(5):  # interleaved: lead 1, 2, ..., 6, then again
            for lead in leads:
                written[str(lead)].append(
                    uow.publish(LeadErased(lead_id=lead, erased_at=event_time_now())).id)
        await uow.commit()
    producer = create_producer(sandbox.bootstrap_servers, "test")
    await producer.start()
    relay = _relay(sandbox, producer)
    try:
        assert await relay.publish_batch() == 30
        # Where a plain send with the same key lands: the relay must agree with it.
        expected = {str(lead): (await producer.send_and_wait(
            sandbox.topic, b"marker", key=str(lead).encode())).partition for lead in leads}
    finally:
        await close_producer(producer)
    consumer = AIOKafkaConsumer(sandbox.topic, bootstrap_servers=sandbox.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen: dict[str, list[tuple[int, str]]] = {}
        async def all_read() -> None:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    if r.value != b"marker":
                        ce_id = dict(r.headers)["ce_id"].decode()
                        seen.setdefault(r.key.decode(), []).append((r.partition, ce_id))
            assert sum(len(v) for v in seen.values()) == 30
        await eventually(all_read, timeout_s=30)
    finally:
        await consumer.stop()
    for lead, events in seen.items():
        assert {partition for partition, _ in events} == {expected[lead]}
        assert [ce_id for _, ce_id in events] == written[lead], "a lead's events keep their order"
