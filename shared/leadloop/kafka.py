"""The one way LeadLoop makes Kafka clients (producer, consumers, admin clients) and closes a
producer. Each gets the bootstrap servers and the security settings (TLS, SASL) of a
`KafkaConnection`; a plain string means PLAINTEXT."""

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.partitioner import DefaultPartitioner

from leadloop.connections import KafkaConnection, kafka_client_args

log = logging.getLogger(__name__)


def create_producer(kafka: str | KafkaConnection, client_id: str, linger_ms: int = 0
                    ) -> AIOKafkaProducer:
    """An idempotent producer: acks=all, and broker-side dedupe of its own retries."""
    return AIOKafkaProducer(
        **kafka_client_args(kafka),
        client_id=client_id,
        enable_idempotence=True,
        linger_ms=linger_ms,
    )


def create_consumer(*topics: str, kafka: str | KafkaConnection, **options: Any
                    ) -> AIOKafkaConsumer:
    """A consumer of `topics` (or of what it is assigned later); `options` are aiokafka's."""
    return AIOKafkaConsumer(*topics, **kafka_client_args(kafka), **options)


def create_admin(kafka: str | KafkaConnection, **options: Any) -> AIOKafkaAdminClient:
    """An admin client (topics, records, offsets)."""
    return AIOKafkaAdminClient(**kafka_client_args(kafka), **options)


class KafkaUnreachable(KafkaConnectionError):  # type: ignore[misc]
    """No broker could be reached; the message says why (refused login, TLS, network)."""


async def why_unreachable(kafka: str | KafkaConnection) -> str:
    """What one direct connection to the first bootstrap server says: aiokafka's start() only
    says "Unable to bootstrap", and logs the reason (a refused SASL login, a certificate the CA
    did not sign) where a caller cannot see it."""
    args = kafka_client_args(kafka)
    host, _, port = args.pop("bootstrap_servers").split(",")[0].strip().rpartition(":")
    try:
        conn = await create_conn(host, int(port), request_timeout_ms=5000, **args)
    except (TimeoutError, OSError, KafkaError) as exc:
        return f"{type(exc).__name__}: {exc}"
    conn.close()
    return "the first bootstrap server answers now"


async def start_client(client: AIOKafkaProducer | AIOKafkaConsumer | AIOKafkaAdminClient,
                       kafka: str | KafkaConnection) -> None:
    """Start a client made here; if no broker can be reached, raise KafkaUnreachable saying
    why (e.g. "SaslAuthenticationFailed: ... invalid credentials")."""
    try:
        await client.start()
    except KafkaConnectionError as exc:
        raise KafkaUnreachable(f"Kafka at {kafka} is unreachable: "
                               f"{await why_unreachable(kafka)}") from exc


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


class KeyPartitions:
    """Which partition a record key goes to, as the producer's default partitioner decides
    (murmur2 of the key over the topic's partitions), remembered per key and partition count:
    murmur2 is pure Python in aiokafka, and a lead's key comes back with each of its events."""

    def __init__(self, producer: AIOKafkaProducer, most: int = 100_000) -> None:
        self._producer = producer
        self._partitioner = DefaultPartitioner()
        self._most = most
        self._known: dict[tuple[str, int, bytes], int] = {}

    async def of(self, topic: str, key: bytes) -> int:
        """The partition of `topic` that `key` belongs to."""
        partitions = sorted(await self._producer.partitions_for(topic))
        cached = (topic, len(partitions), key)
        partition = self._known.get(cached)
        if partition is None:
            if len(self._known) >= self._most:
                self._known.clear()
            partition = self._known[cached] = int(
                self._partitioner(key, partitions, partitions))
        return partition
