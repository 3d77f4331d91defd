"""The one way LeadLoop makes and closes a Kafka producer."""

import asyncio
import logging

from aiokafka import AIOKafkaProducer

log = logging.getLogger(__name__)


def create_producer(bootstrap_servers: str, client_id: str, linger_ms: int = 0) -> AIOKafkaProducer:
    """An idempotent producer: acks=all, and broker-side dedupe of its own retries."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        linger_ms=linger_ms,
    )


async def close_producer(producer: AIOKafkaProducer, timeout_s: float = 10) -> None:
    """Flush and close; give up after `timeout_s`.

    aiokafka's stop() can wait forever on a broker that went away (aio-libs/aiokafka#1101).
    Anything unflushed is still in the outbox (rows are marked sent only after acks), so
    abandoning the producer loses nothing.
    """
    # Not wait_for: on timeout it cancels and then waits for the cancellation, which is exactly
    # what hangs. A stuck stop() is left to die with the process.
    stopping = asyncio.ensure_future(producer.stop())
    done, _ = await asyncio.wait({stopping}, timeout=timeout_s)
    if not done:
        log.warning("Kafka producer did not stop within %.0fs; abandoning it", timeout_s)
