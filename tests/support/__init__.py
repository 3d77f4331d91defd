"""Helpers every test uses: wait for an outcome by polling with a deadline, read Kafka topics."""

import asyncio
import base64
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from leadloop.events import CloudEvent, EventData, event_type_of
from leadloop.events.models import LeadActivity, event_time_now
from leadloop.events.topology import CONSUMES, KEYS_TOPIC, SERVICES, topic_of
from leadloop.kafka import close_producer, create_producer
from leadloop.pii import has_sealed_data, reveal

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


async def every_item(http: httpx.AsyncClient, url: str, headers: dict[str, str],
                     params: dict[str, Any] | None = None, limit: int = 500
                     ) -> list[dict[str, Any]]:
    """Every item of a list endpoint: its pages, following `next_cursor` to the end."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {**(params or {}), "limit": limit}
    while True:
        r = await http.get(url, headers=headers, params=query)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        query["cursor"] = page["next_cursor"]


async def publish_activity(bootstrap_servers: str, lead_id: str, kind: str,
                           url: str | None = None) -> str:
    """Publish a lead.activity on capture's topic, as capture's tracking (or a CRM reporting a
    reply) does; returns the event id."""
    data = LeadActivity(lead_id=uuid.UUID(lead_id), activity_id=uuid.uuid4(), kind=kind,
                        occurred_at=event_time_now(), url=url)
    event = CloudEvent(type="leadloop.lead.activity.v1", source="capture", subject=lead_id,
                       data=data.model_dump(mode="json"))
    producer = create_producer(bootstrap_servers, f"test-{kind}")
    await producer.start()
    try:
        key, value, headers = event.to_kafka()
        await producer.send_and_wait(topic_of("capture"), value=value, key=key, headers=headers)
    finally:
        await close_producer(producer)
    return event.id


async def send_event(producer: AIOKafkaProducer, topic: str, data: EventData,
                     subject: object) -> str:
    """Send one event (data and its envelope from "test") to a topic, keyed by `subject` (the
    lead whose order it keeps); returns the envelope's id."""
    envelope = CloudEvent(type=event_type_of(data), source="test", subject=str(subject),
                          data=data.model_dump(mode="json"))
    key, value, headers = envelope.to_kafka()
    await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    return envelope.id


@contextmanager
def local_webhook_receiver(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free local port from a thread (as a sales tool's endpoint would
    answer); yields its /hooks URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


class TopicReader:
    """Reads topics from the beginning without a consumer group, as a sales tool could.

    Like any reader trusted with personal data, it also reads the lead keys topic and shows
    events with their personal fields decrypted (erased leads' fields read as empty). An event
    whose key has not arrived yet keeps its place in `events` and is decrypted on a later poll.
    """

    def __init__(self, bootstrap_servers: str, *topics: str) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics, KEYS_TOPIC, bootstrap_servers=bootstrap_servers, group_id=None,
            auto_offset_reset="earliest", enable_auto_commit=False,
            client_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        )
        self._keys: dict[str, bytes | None] = {}
        self._sealed: dict[int, CloudEvent] = {}  # index in `events` -> the event as read
        self.events: list[CloudEvent] = []

    async def __aenter__(self) -> "TopicReader":
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> list[CloudEvent]:
        """Fetch what has arrived since the last poll; returns every event read so far."""
        self._take(await self._consumer.getmany(timeout_ms=200))
        if self._sealed:
            await self._catch_up_on_keys()
        for index, event in list(self._sealed.items()):
            if event.subject in self._keys:
                data = reveal(event.data, event.subject, self._keys[event.subject])
                self.events[index] = replace(event, data=data)
                del self._sealed[index]
        return self.events

    def _take(self, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        for records in batches.values():
            for record in records:
                if record.topic == KEYS_TOPIC:
                    body = orjson.loads(record.value or b"{}")
                    self._keys[(record.key or b"").decode()] = (
                        base64.b64decode(body["data_key"]) if "data_key" in body else None)
                    continue
                event = CloudEvent.from_kafka(record.value, record.headers)
                if has_sealed_data(event.data):
                    self._sealed[len(self.events)] = event
                self.events.append(event)

    async def _catch_up_on_keys(self) -> None:
        """Read the keys topic up to its current end before decrypting: an event's key (or its
        erasure) was published with it or before it, but the reader may not be that far yet."""
        partitions = [tp for tp in self._consumer.assignment() if tp.topic == KEYS_TOPIC]
        ends = await self._consumer.end_offsets(partitions)
        behind = [tp for tp in partitions if await self._consumer.position(tp) < ends[tp]]
        while behind:
            self._take(await self._consumer.getmany(*behind, timeout_ms=200))
            behind = [tp for tp in behind if await self._consumer.position(tp) < ends[tp]]

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


async def topics_holding(bootstrap_servers: str, needle: bytes) -> dict[str, int]:
    """How many records of each topic carry `needle` (lowercase) in their raw key, value or
    headers: what anyone with access to the broker could read."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if not t.startswith("__")]
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    partitions = [TopicPartition(t["topic"], p["partition"]) for t in described
                  for p in t["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    hits: dict[str, int] = {}
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            for tp, records in (await consumer.getmany(*remaining, timeout_ms=1000)).items():
                for r in records:
                    raw = b"".join([r.key or b"", r.value or b"",
                                    *(k.encode() + (v or b"") for k, v in r.headers or ())])
                    if needle in raw.lower():
                        hits[tp.topic] = hits.get(tp.topic, 0) + 1
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return hits


async def consumer_lag(bootstrap: str) -> dict[str, int]:
    """Each consuming service's lag: records on its topics past its group's committed offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        lag = {}
        for service in SERVICES:
            if not CONSUMES[service]:
                continue
            committed = await admin.list_consumer_group_offsets(service)
            tps = [TopicPartition(topic_of(p), n) for p in CONSUMES[service]
                   for n in range(12)]
            ends = await consumer.end_offsets(tps)
            lag[service] = sum(ends[tp] - (committed[tp].offset if tp in committed else 0)
                               for tp in tps)
        return lag
    finally:
        await consumer.stop()
        await admin.close()
