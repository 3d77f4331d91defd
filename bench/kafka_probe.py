"""What the benchmarks read from Kafka: handoffs as a sales tool sees them, and consumer lag."""

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from leadloop.events.topology import CONSUMES, topic_of

HANDED_OFF = b"leadloop.lead.handed_off.v1"


class HandoffReader:
    """A plain aiokafka consumer (no group) on leadloop.handoff (or `topic`): when each
    lead.handed_off arrived, by lead id (the CloudEvents subject), on this machine's monotonic
    clock. `on_handoff(record, arrived)` sees each one too (P2's floor reads its body)."""

    def __init__(self, bootstrap_servers: str, partitions: int, topic: str | None = None,
                 on_handoff: Callable[[ConsumerRecord[bytes, bytes], float], None] | None = None
                 ) -> None:
        self._partitions = partitions
        self._topic = topic or topic_of("handoff")
        self._on_handoff = on_handoff
        # fetch_min_bytes=1 (the default): the broker answers a fetch as soon as a record
        # arrives, so the default fetch_max_wait_ms adds no latency, only saves polling.
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                          enable_auto_commit=False)
        self.received: dict[str, float] = {}  # lead id -> first arrival (time.monotonic)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Assign every partition at its end, so only handoffs from now on are read."""
        await self._consumer.start()
        assigned = [TopicPartition(self._topic, p) for p in range(self._partitions)]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_end(*assigned)
        for tp in assigned:  # resolve positions now, before any lead is posted
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            arrived = time.monotonic()
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers or ())
                    if headers.get("ce_type") == HANDED_OFF:
                        subject = headers.get("ce_subject", b"").decode()
                        self.received.setdefault(subject, arrived)
                        if self._on_handoff is not None:
                            self._on_handoff(record, arrived)

    def count_since(self, since: float) -> int:
        """Handoffs that arrived at or after `since` (monotonic)."""
        return sum(1 for at in self.received.values() if at >= since)

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


class LagProbe:
    """Consumer-group lag from Kafka's own offsets: end offset minus committed offset.
    (Topics have the stack's partition count; the local stack creates them so.)"""

    def __init__(self, bootstrap_servers: str, partitions: int) -> None:
        self._partitions = partitions
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        self._offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None)

    async def start(self) -> None:
        """Connect."""
        await self._admin.start()
        await self._offsets.start()

    async def stop(self) -> None:
        """Disconnect."""
        await self._offsets.stop()
        await self._admin.close()

    async def lag(self, group: str) -> int:
        """Records on `group`'s topics that it has not committed yet."""
        topics = [topic_of(s) for s in CONSUMES[group]]
        partitions = [TopicPartition(t, p) for t in topics for p in range(self._partitions)]
        committed = await self._admin.list_consumer_group_offsets(group)
        ends = await self._offsets.end_offsets(partitions)
        starts = await self._offsets.beginning_offsets(partitions)
        total = 0
        for tp in partitions:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
            total += max(0, ends[tp] - done)
        return total

    async def lags(self, groups: tuple[str, ...]) -> dict[str, int]:
        """Lag of each group."""
        return {group: await self.lag(group) for group in groups}
