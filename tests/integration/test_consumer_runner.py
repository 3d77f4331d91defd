"""The consumer runner: duplicates change nothing, poison goes to the DLQ, outages never skip."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY
from sqlalchemy import Column, MetaData, Table, Text, func, insert, select
from sqlalchemy.exc import OperationalError

from leadloop.consumer import ConsumerRunner, ConsumerTuning
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent
from leadloop.events.models import LeadErased, event_time_now
from leadloop.handlers import Batch, Handlers
from leadloop.kafka import close_producer, create_producer
from tests.integration.conftest import Sandbox
from tests.support import TopicReader, eventually, read_records

pytestmark = pytest.mark.asyncio

ERASED = "leadloop.lead.erased.v1"
_metadata = MetaData()
# A deliberately non-idempotent effect: one row per handled event, so a double shows up.
effects = Table("effects", _metadata, Column("event_id", Text), Column("lead_id", Text))

EventHandler = Callable[[UnitOfWork, Any, CloudEvent], Awaitable[None]]
"""What these tests inject: the effect of one event (the runner isolates a failing one)."""


def _each_event(handler: EventHandler) -> Handlers:
    """A registry whose batch handler applies `handler` to every erasure in turn."""
    registry = Handlers()

    @registry.handles
    async def apply_each(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
        for item in batch:
            await handler(uow, item.event, item.envelope)
    return registry


@pytest_asyncio.fixture
async def producer(sandbox: Sandbox) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer writing to the sandbox's topic."""
    async with sandbox.engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    p = create_producer(sandbox.bootstrap_servers, "test")
    await p.start()
    yield p
    await close_producer(p)


def _erased_event(source: str, lead_id: str | None = None) -> CloudEvent:
    lead = lead_id or str(uuid.uuid4())
    data = LeadErased(lead_id=uuid.UUID(lead), erased_at=event_time_now())
    return CloudEvent(type=ERASED, source=source, subject=lead, data=data.model_dump(mode="json"))


async def _send(producer: AIOKafkaProducer, topic: str, event: CloudEvent) -> None:
    key, value, headers = event.to_kafka()
    await producer.send_and_wait(topic, value=value, key=key, headers=headers)


async def _record_effect(uow: UnitOfWork, event: Any, envelope: CloudEvent) -> None:
    await uow.connection.execute(insert(effects).values(event_id=envelope.id,
                                                        lead_id=str(event.lead_id)))


async def _effect_count(sandbox: Sandbox, **where: str) -> int:
    async with sandbox.engine.connect() as conn:
        query = select(func.count()).select_from(effects)
        for column, value in where.items():
            query = query.where(effects.c[column] == value)
        return int(await conn.scalar(query) or 0)


class _Running:
    def __init__(self, sandbox: Sandbox, producer: AIOKafkaProducer,
                 handler: EventHandler, **options: Any) -> None:
        self.runner = ConsumerRunner(
            service=sandbox.service, engine=sandbox.engine, producer=producer,
            bootstrap_servers=sandbox.bootstrap_servers, topics=[sandbox.topic],
            handlers=_each_event(handler),
            tuning=ConsumerTuning(max_attempts=3, retry_backoff_s=0.01, retry_backoff_max_s=0.05,
                                  **options),
        )

    async def __aenter__(self) -> ConsumerRunner:
        self.task = asyncio.create_task(self.runner.run())
        return self.runner

    async def __aexit__(self, *exc: object) -> None:
        self.runner.stop()
        await self.task


async def test_duplicated_event_changes_nothing(sandbox: Sandbox,
                                                producer: AIOKafkaProducer) -> None:
    event = _erased_event(sandbox.service)
    follower = _erased_event(sandbox.service, event.subject)  # same key: same partition, after
    for e in (event, event, follower):
        await _send(producer, sandbox.topic, e)

    async with _Running(sandbox, producer, _record_effect):
        async def both_handled() -> None:
            assert await _effect_count(sandbox, event_id=follower.id) == 1
        await eventually(both_handled)

    assert await _effect_count(sandbox, event_id=event.id) == 1


async def test_redelivery_after_restart_is_a_no_op(sandbox: Sandbox,
                                                   producer: AIOKafkaProducer) -> None:
    event = _erased_event(sandbox.service)
    await _send(producer, sandbox.topic, event)
    async with _Running(sandbox, producer, _record_effect):
        async def handled() -> None:
            assert await _effect_count(sandbox, event_id=event.id) == 1
        await eventually(handled)
    # The same event published again (as a relay that died before deleting its row would do).
    await _send(producer, sandbox.topic, event)
    marker = _erased_event(sandbox.service, event.subject)
    await _send(producer, sandbox.topic, marker)
    async with _Running(sandbox, producer, _record_effect):
        async def marker_handled() -> None:
            assert await _effect_count(sandbox, event_id=marker.id) == 1
        await eventually(marker_handled)
    assert await _effect_count(sandbox, event_id=event.id) == 1


async def test_poison_events_land_in_the_dlq_and_the_consumer_continues(
        sandbox: Sandbox, producer: AIOKafkaProducer) -> None:
    lead = str(uuid.uuid4())
    not_json = _erased_event(sandbox.service, lead)
    _, _, headers = not_json.to_kafka()
    await producer.send_and_wait(sandbox.topic, value=b"{broken", key=lead.encode(),
                                 headers=headers)
    invalid = CloudEvent(type=ERASED, source=sandbox.service, subject=lead,
                         data={"lead_id": "not-a-uuid"})
    await _send(producer, sandbox.topic, invalid)
    crashing = _erased_event(sandbox.service, lead)
    await _send(producer, sandbox.topic, crashing)
    healthy = _erased_event(sandbox.service, lead)
    await _send(producer, sandbox.topic, healthy)

    async def handler(uow: UnitOfWork, event: Any, envelope: CloudEvent) -> None:
        if envelope.id == crashing.id:
            raise KeyError("a bug that no retry fixes")
        await _record_effect(uow, event, envelope)

    async with _Running(sandbox, producer, handler):
        async def healthy_handled() -> None:
            assert await _effect_count(sandbox, event_id=healthy.id) == 1
        await eventually(healthy_handled)

    parked = await read_records(sandbox.bootstrap_servers, sandbox.dead_letter_topic, 3)
    assert {dict(r.headers)["ce_id"].decode() for r in parked} == {
        not_json.id, invalid.id, crashing.id}
    assert parked[0].value == b"{broken"  # parked unchanged, for inspection and replay
    assert await _effect_count(sandbox, event_id=crashing.id) == 0


async def test_a_poison_event_in_a_large_batch_costs_the_others_nothing(
        sandbox: Sandbox, producer: AIOKafkaProducer) -> None:
    """Many leads, several events of one lead and one poison event in the same batch: every
    healthy event is applied once, each lead's in order, in far fewer transactions than
    events, and only the poison one is parked."""
    leads = [str(uuid.uuid4()) for _ in range(20)]
    events = [_erased_event(sandbox.service, leads[i % len(leads)]) for i in range(200)]
    poison = events[117]
    for event in events:  # all sent before the runner starts: they arrive as large batches
        await _send(producer, sandbox.topic, event)
    order: list[str] = []
    transactions = 0

    async def handler(uow: UnitOfWork, event: Any, envelope: CloudEvent) -> None:
        if envelope.id == poison.id:
            raise KeyError("a bug that no retry fixes")
        order.append(envelope.id)
        await _record_effect(uow, event, envelope)

    registry = _each_event(handler)
    apply = registry.apply

    async def counted(uow: UnitOfWork, items: Any) -> None:
        nonlocal transactions
        transactions += 1
        applied_before = len(order)
        try:
            await apply(uow, items)
        except Exception:
            del order[applied_before:]  # rolled back: these were not applied
            raise
    registry.apply = counted  # type: ignore[method-assign]

    async with sandbox.consuming(producer, registry):
        [parked] = await read_records(sandbox.bootstrap_servers, sandbox.dead_letter_topic, 1)
        healthy = [e for e in events if e is not poison]

        async def all_applied() -> None:
            assert await _effect_count(sandbox) == len(healthy)
        await eventually(all_applied)

    assert dict(parked.headers)["ce_id"] == poison.id.encode()
    assert await _effect_count(sandbox, event_id=poison.id) == 0
    assert sorted(order) == sorted(e.id for e in healthy)  # each applied once
    position = {event_id: i for i, event_id in enumerate(order)}
    for lead in leads:
        mine = [position[e.id] for e in healthy if e.subject == lead]
        assert mine == sorted(mine), "a lead's events were applied out of order"
    assert transactions < 60, f"{transactions} transactions for {len(events)} events"


async def test_a_nul_key_and_an_oversized_record_are_parked_and_the_consumer_goes_on(
        sandbox: Sandbox, producer: AIOKafkaProducer) -> None:
    """Records no handler sees: a key holding a NUL byte (it used to fail the batch's key
    lookup and end the consumer) and a value so large that its dead-letter copy would exceed
    the producer's limit (it used to be retried forever)."""
    nul_key = _erased_event(sandbox.service)
    _, value, headers = nul_key.to_kafka()
    await producer.send_and_wait(sandbox.topic, value=value, key=b"lead\x00id", headers=headers)
    huge = _erased_event(sandbox.service)
    key, _, headers = huge.to_kafka()
    padded = b'{"lead_id": "%s", "pad": "%s"}' % (huge.subject.encode(), b"x" * 1_046_000)
    await producer.send_and_wait(sandbox.topic, value=padded, key=key, headers=headers)
    healthy = _erased_event(sandbox.service)
    await _send(producer, sandbox.topic, healthy)

    async with _Running(sandbox, producer, _record_effect) as runner:
        async def healthy_handled() -> None:
            assert await _effect_count(sandbox, event_id=healthy.id) == 1
        await eventually(healthy_handled)
        parked = await read_records(sandbox.bootstrap_servers, sandbox.dead_letter_topic, 1,
                                    timeout_s=30)
        assert runner.running

    by_id = {dict(r.headers)["ce_id"].decode(): r for r in parked}
    assert huge.id in by_id
    truncated = dict(by_id[huge.id].headers)
    assert truncated["dlq_truncated"] == b"true"
    assert int(truncated["dlq_original_bytes"]) == len(padded)
    assert await _effect_count(sandbox, event_id=nul_key.id) == 1  # its data was fine


async def test_dead_letter_headers_say_what_failed_and_where_from(
        sandbox: Sandbox, producer: AIOKafkaProducer) -> None:
    bad = CloudEvent(type=ERASED, source=sandbox.service, subject=str(uuid.uuid4()),
                     data={"lead_id": "nope"})
    await _send(producer, sandbox.topic, bad)
    async with _Running(sandbox, producer, _record_effect):
        [record] = await read_records(sandbox.bootstrap_servers, sandbox.dead_letter_topic, 1)
    headers = dict(record.headers)
    assert headers["dlq_error_type"] == b"ValidationError"
    assert b"lead_id" in headers["dlq_error"]
    assert headers["dlq_topic"] == sandbox.topic.encode()
    assert headers["ce_id"] == bad.id.encode()


async def test_database_outage_is_retried_without_skipping_or_dead_lettering(
        sandbox: Sandbox, producer: AIOKafkaProducer) -> None:
    event = _erased_event(sandbox.service)
    await _send(producer, sandbox.topic, event)
    failures = 4  # more than max_attempts: transient errors must not count towards the DLQ

    async def flaky(uow: UnitOfWork, data: Any, envelope: CloudEvent) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise OperationalError("INSERT", {}, ConnectionResetError("database restarting"))
        await _record_effect(uow, data, envelope)

    async with _Running(sandbox, producer, flaky):
        async def handled() -> None:
            assert await _effect_count(sandbox, event_id=event.id) == 1
        await eventually(handled)

    assert failures == 0
    async with TopicReader(sandbox.bootstrap_servers, sandbox.dead_letter_topic) as reader:
        assert await reader.poll() == []


# --- offsets: committed on shutdown and on partition revoke ----------------------------------

# Longer than any test: after its first round a runner makes no periodic commit, so what is
# committed below comes from the commit under test (shutdown's, or revoke's).
NO_PERIODIC_COMMIT = {"commit_interval_s": 3600.0}
PARTITIONS = 12


async def _uncommitted(sandbox: Sandbox) -> dict[TopicPartition, int]:
    """Records past the group's committed offset, per partition (none: all committed)."""
    partitions = [TopicPartition(sandbox.topic, n) for n in range(PARTITIONS)]
    admin = AIOKafkaAdminClient(bootstrap_servers=sandbox.bootstrap_servers)
    reader = AIOKafkaConsumer(bootstrap_servers=sandbox.bootstrap_servers)
    await admin.start()
    await reader.start()
    try:
        committed = await admin.list_consumer_group_offsets(sandbox.service)
        ends = await reader.end_offsets(partitions)
    finally:
        await reader.stop()
        await admin.close()
    behind = {tp: end - (committed[tp].offset if tp in committed else 0)
              for tp, end in ends.items()}
    return {tp: n for tp, n in behind.items() if n}


def _duplicates_seen(sandbox: Sandbox) -> float:
    """Records the runner received again and skipped because the inbox had them."""
    return REGISTRY.get_sample_value("leadloop_events_duplicate_total",
                                     {"service": sandbox.service}) or 0.0


class _Calls:
    """A handler that counts its calls per event (and records the effect)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def __call__(self, uow: UnitOfWork, event: Any, envelope: CloudEvent) -> None:
        self.calls[envelope.id] += 1
        await _record_effect(uow, event, envelope)

    async def wait_for(self, events: list[CloudEvent]) -> None:
        async def all_handled() -> None:
            missing = [e.id for e in events if e.id not in self.calls]
            assert not missing, f"{len(missing)} of {len(events)} not handled yet"
        await eventually(all_handled, timeout_s=60)


async def _warm_up(sandbox: Sandbox, producer: AIOKafkaProducer, handler: _Calls) -> None:
    """One event handled: the runner has its partitions and has had its first commit round."""
    first = _erased_event(sandbox.service)
    await _send(producer, sandbox.topic, first)
    await handler.wait_for([first])


async def test_clean_shutdown_commits_every_handled_offset(
        sandbox: Sandbox, producer: AIOKafkaProducer) -> None:
    handler = _Calls()
    async with _Running(sandbox, producer, handler, **NO_PERIODIC_COMMIT):
        await _warm_up(sandbox, producer, handler)
        events = [_erased_event(sandbox.service) for _ in range(40)]
        for event in events:
            await _send(producer, sandbox.topic, event)
        await handler.wait_for(events)
        assert await _uncommitted(sandbox), "nothing should be committed before the shutdown"
    # stop() returned: the group's offsets are at the end of every partition, so a restart
    # receives nothing again.
    assert await _uncommitted(sandbox) == {}
    assert set(handler.calls.values()) == {1}


async def test_partitions_are_committed_when_revoked_so_the_next_owner_gets_nothing_twice(
        sandbox: Sandbox, producer: AIOKafkaProducer) -> None:
    handler = _Calls()
    first = _Running(sandbox, producer, handler, **NO_PERIODIC_COMMIT)
    second = _Running(sandbox, producer, handler, **NO_PERIODIC_COMMIT)
    async with first as first_runner:
        await _warm_up(sandbox, producer, handler)
        events = [_erased_event(sandbox.service) for _ in range(40)]  # on most partitions
        for event in events:
            await _send(producer, sandbox.topic, event)
        await handler.wait_for(events)
        assert await _uncommitted(sandbox), "nothing should be committed before the rebalance"

        async with second as second_runner:
            # A second replica joins: the group takes partitions from the first one, which
            # commits what it handled on them as they are revoked.
            async def split() -> None:
                assert first_runner.assignment and second_runner.assignment
            await eventually(split, timeout_s=60)
            assert await _uncommitted(sandbox) == {}

            # One more event on every partition: each is read, in order, after whatever the
            # new owner would re-read had the offsets not been committed.
            markers = [_erased_event(sandbox.service) for _ in range(PARTITIONS)]
            for partition, marker in enumerate(markers):
                key, value, headers = marker.to_kafka()
                await producer.send_and_wait(sandbox.topic, value=value, key=key,
                                             headers=headers, partition=partition)
            await handler.wait_for(markers)

    assert set(handler.calls.values()) == {1}
    assert len(handler.calls) == 1 + len(events) + len(markers)
    assert _duplicates_seen(sandbox) == 0, "records already handled were delivered again"
