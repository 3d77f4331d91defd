"""Managed Kafka: the project's own client factory produces and consumes over SASL_SSL with
SCRAM (the local broker's opt-in listener, TLS with a CA made at start-up), and a wrong
password is refused with an error that says so."""

import dataclasses
import uuid

import pytest
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError

from leadloop.connections import KafkaConnection
from leadloop.kafka import (
    KafkaUnreachable,
    close_producer,
    create_admin,
    create_consumer,
    create_producer,
    start_client,
)
from leadloop_devstack.stack import Stack

pytestmark = pytest.mark.asyncio


def _secure(stack: Stack, mechanism: str) -> KafkaConnection:
    if stack.kafka is None or stack.kafka.sasl_ssl is None:
        pytest.skip("an external Kafka: no local SASL_SSL listener to test against")
    return stack.kafka.secure_connection(mechanism)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_records_go_through_a_sasl_scram_listener_over_tls(stack: Stack,
                                                                  mechanism: str) -> None:
    secure = _secure(stack, mechanism)
    topic = f"it-sasl-{uuid.uuid4().hex[:8]}"
    admin = create_admin(secure)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = create_producer(secure, "it-sasl")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"over TLS", key=b"lead-1")
    finally:
        await close_producer(producer)
    consumer = create_consumer(topic, kafka=secure, group_id=None,
                               auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"lead-1", b"over TLS")


async def test_a_wrong_password_is_refused_clearly(stack: Stack) -> None:
    wrong = dataclasses.replace(_secure(stack, "SCRAM-SHA-512"), sasl_password="not-it")
    producer = create_producer(wrong, "it-sasl-wrong")
    with pytest.raises(KafkaUnreachable) as refused:
        await start_client(producer, wrong)
    await producer.stop()
    message = str(refused.value)
    assert "SaslAuthenticationFailed" in message and "invalid credentials" in message, message
    assert "not-it" not in message, "the password stays out of the error"


async def test_plaintext_clients_cannot_talk_to_the_tls_listener(stack: Stack) -> None:
    secure = _secure(stack, "SCRAM-SHA-512")
    admin = create_admin(secure.bootstrap_servers, request_timeout_ms=3000)
    with pytest.raises(KafkaError):
        await admin.start()
    await admin.close()
