"""Helpers every test uses: wait for an outcome by polling with a deadline, read Kafka topics."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from leadloop.events import CloudEvent

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], timeout_s: float = 30,
                     interval_s: float = 0.1) -> T:
    """Call `check` until it returns without AssertionError, or re-raise after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(interval_s)


class TopicReader:
    """Reads topics from the beginning without a consumer group, as a sales tool could."""

    def __init__(self, bootstrap_servers: str, *topics: str) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap_servers, group_id=None,
            auto_offset_reset="earliest", enable_auto_commit=False,
            client_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        )
        self.events: list[CloudEvent] = []

    async def __aenter__(self) -> "TopicReader":
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> list[CloudEvent]:
        """Fetch what has arrived since the last poll; returns every event read so far."""
        batches = await self._consumer.getmany(timeout_ms=200)
        for records in batches.values():
            for record in records:
                self.events.append(CloudEvent.from_kafka(record.value, record.headers))
        return self.events

    async def wait_for(self, predicate: Callable[[list[CloudEvent]], bool],
                       timeout_s: float = 30) -> list[CloudEvent]:
        """Poll until `predicate(events)` holds; fails the test after `timeout_s`."""
        async def check() -> list[CloudEvent]:
            events = await self.poll()
            assert predicate(events), f"condition not met with {len(events)} events read"
            return events

        return await eventually(check, timeout_s)


async def read_records(bootstrap_servers: str, topic: str, count: int,
                       timeout_s: float = 30) -> list[ConsumerRecord[bytes, bytes]]:
    """The first `count` raw records of `topic` (headers and bytes as they are)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap_servers, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async def enough() -> None:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
            assert len(records) >= count, f"{len(records)} of {count} records in {topic}"

        await eventually(enough, timeout_s)
    finally:
        await consumer.stop()
    return records
