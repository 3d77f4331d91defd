"""Per-lead keys between services: an event waits for a key that comes late, a service that
publishes personal data encrypts it, and after erasure the lead's events are skipped."""

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from leadloop.consumer import ConsumerRunner, ConsumerTuning
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent
from leadloop.events.models import LeadCreated, LeadProfile, event_time_now
from leadloop.events.topology import KEYS_TOPIC
from leadloop.handlers import Batch, Handlers
from leadloop.infra_tables import lead_keys, outbox
from leadloop.kafka import close_producer, create_producer
from leadloop.keyring import KeyArrivals, KeysConsumer
from leadloop.pii import new_data_key, seal
from tests.integration.conftest import Sandbox
from tests.support import eventually

pytestmark = pytest.mark.asyncio
# The keys topic is shared by the whole test session: a fresh keys consumer first reads every key
# issued by earlier tests (thousands after the import tests), so its catching up gets time.
CATCH_UP_S = 180

CREATED = "leadloop.lead.created.v1"


@pytest_asyncio.fixture
async def producer(sandbox: Sandbox) -> AsyncIterator[AIOKafkaProducer]:
    p = create_producer(sandbox.bootstrap_servers, "test-keys")
    await p.start()
    yield p
    await close_producer(p)


def _created(source: str, lead_id: str, key: bytes | None, email: str) -> CloudEvent:
    data = LeadCreated(lead_id=uuid.UUID(lead_id), profile=LeadProfile(email=email),
                       created_at=event_time_now()).model_dump(mode="json")
    return CloudEvent(type=CREATED, source=source, subject=lead_id,
                      data=seal(data, lead_id, key) if key else data)


async def _send(producer: AIOKafkaProducer, topic: str, event: CloudEvent) -> None:
    key, value, headers = event.to_kafka()
    await producer.send_and_wait(topic, value=value, key=key, headers=headers)


async def _send_key(producer: AIOKafkaProducer, lead_id: str, key: bytes | None) -> None:
    body = {"lead_id": lead_id, **({"data_key": base64.b64encode(key).decode()} if key
                                   else {"erased": True})}
    await producer.send_and_wait(KEYS_TOPIC, key=lead_id.encode(), value=orjson.dumps(body))


class _Service:
    """A consuming service: the runner and its keys feed, recording every profile it sees."""

    def __init__(self, sandbox: Sandbox, producer: AIOKafkaProducer) -> None:
        self.seen: dict[str, str] = {}
        self.stopping = asyncio.Event()

        handlers = Handlers()

        @handlers.handles
        async def on_created(uow: UnitOfWork, batch: Batch[LeadCreated]) -> None:
            for item in batch:
                self.seen[item.envelope.subject] = item.event.profile.email
                uow.publish(item.event)  # re-published, as scoring and handoff pass profiles on

        # As in a running service: the feed hands the keys it reads to the runner in memory.
        arrivals = KeyArrivals()
        self.runner = ConsumerRunner(
            service=sandbox.service, engine=sandbox.engine, producer=producer,
            bootstrap_servers=sandbox.bootstrap_servers, topics=[sandbox.topic],
            handlers=handlers,
            tuning=ConsumerTuning(retry_backoff_s=0.01, retry_backoff_max_s=0.05),
            key_arrivals=arrivals)
        self.keys = KeysConsumer(service=sandbox.service, engine=sandbox.engine,
                                 bootstrap_servers=sandbox.bootstrap_servers,
                                 stopping=self.stopping, arrivals=arrivals)

    async def __aenter__(self) -> "_Service":
        self.tasks = [asyncio.create_task(self.runner.run()),
                      asyncio.create_task(self.keys.run())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.runner.stop()
        self.stopping.set()
        await asyncio.gather(*self.tasks)


async def test_event_waits_for_its_late_key_and_is_passed_on_encrypted(
        sandbox: Sandbox, producer: AIOKafkaProducer) -> None:
    lead, key, email = str(uuid.uuid4()), new_data_key(), f"late.{uuid.uuid4().hex}@ex.org"
    plain_lead = str(uuid.uuid4())
    await _send(producer, sandbox.topic, _created(sandbox.service, lead, key, email))

    async with _Service(sandbox, producer) as service:
        # The key comes after the event, on its own topic: the event waits for it.
        await _send_key(producer, lead, key)

        async def handled() -> None:
            assert service.seen.get(lead) == email
        await eventually(handled, timeout_s=CATCH_UP_S)

        # A plain-text event (from before encryption) needs no key.
        await _send(producer, sandbox.topic,
                    _created(sandbox.service, plain_lead, None, "p@ex.org"))

        async def plain_handled() -> None:
            assert service.seen.get(plain_lead) == "p@ex.org"
        await eventually(plain_handled, timeout_s=CATCH_UP_S)

    async with sandbox.engine.connect() as conn:
        stored = {r.subject: r.data for r in await conn.execute(
            select(outbox.c.subject, outbox.c.data))}
        copied = await conn.scalar(select(lead_keys.c.data_key)
                                  .where(lead_keys.c.lead_id == lead))
    assert copied == key
    assert email.encode() not in stored[lead], "re-published with the address encrypted"
    assert b"p@ex.org" in stored[plain_lead], "no key: passed on as it came"


async def test_after_erasure_the_key_is_gone_and_the_leads_events_are_skipped(
        sandbox: Sandbox, producer: AIOKafkaProducer) -> None:
    lead, key = str(uuid.uuid4()), new_data_key()
    email = f"gone.{uuid.uuid4().hex}@ex.org"
    await _send_key(producer, lead, key)
    await _send(producer, sandbox.topic, _created(sandbox.service, lead, key, email))

    async with _Service(sandbox, producer) as service:
        async def handled() -> None:
            assert service.seen.get(lead) == email
        await eventually(handled, timeout_s=CATCH_UP_S)
        del service.seen[lead]

        await _send_key(producer, lead, None)

        async def key_shredded() -> None:
            async with sandbox.engine.connect() as conn:
                row = (await conn.execute(select(lead_keys).where(
                    lead_keys.c.lead_id == lead))).one()
            assert row.data_key is None and row.erased_at is not None
        await eventually(key_shredded, timeout_s=CATCH_UP_S)

        # The same lead's old event again (a replay), then another lead's as a marker.
        await _send(producer, sandbox.topic, _created(sandbox.service, lead, key, email))
        marker = str(uuid.uuid4())
        await _send(producer, sandbox.topic, _created(sandbox.service, marker, None, "m@ex.org"))

        async def marker_handled() -> None:
            assert marker in service.seen
        await eventually(marker_handled, timeout_s=CATCH_UP_S)
        assert lead not in service.seen, "an erased lead's event was acted on"


async def test_a_handler_that_reads_no_personal_field_needs_no_key(
        sandbox: Sandbox, producer: AIOKafkaProducer) -> None:
    # A key nobody ever sends: a handler that needs personal data would wait for it.
    lead, email, key = str(uuid.uuid4()), f"nokey.{uuid.uuid4().hex}@ex.org", new_data_key()
    data = LeadCreated(lead_id=uuid.UUID(lead), profile=LeadProfile(email=email, company="Acme"),
                       created_at=event_time_now()).model_dump(mode="json")
    await _send(producer, sandbox.topic, CloudEvent(
        type=CREATED, source=sandbox.service, subject=lead, data=seal(data, lead, key)))
    seen: dict[str, tuple[str, str | None]] = {}
    handlers = Handlers()

    @handlers.handles_without_personal_data
    async def on_created(uow: UnitOfWork, batch: Batch[LeadCreated]) -> None:
        for item in batch:
            seen[item.envelope.subject] = (item.event.profile.email, item.event.profile.company)

    runner = ConsumerRunner(
        service=sandbox.service, engine=sandbox.engine, producer=producer,
        bootstrap_servers=sandbox.bootstrap_servers, topics=[sandbox.topic],
        handlers=handlers, tuning=ConsumerTuning(key_wait_s=300))
    task = asyncio.create_task(runner.run())
    try:
        async def handled() -> None:
            assert lead in seen
        await eventually(handled, timeout_s=60)  # far less than the key wait
    finally:
        runner.stop()
        await task
    assert seen[lead] == ("", "Acme"), "personal fields read as empty, the rest as sent"
