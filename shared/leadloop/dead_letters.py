"""Dead letters: list, inspect, replay and purge what a consumer parked in its DLQ topic.

Parked records are the original bytes and headers plus `dlq_*` headers saying why and where
from. Replay publishes the original record back to its source topic with its original CloudEvents
id: the failed event was never recorded as processed, so the consumer handles it as new.
Purge deletes records from the start of the DLQ up to an offset (Kafka cannot delete one record
from the middle of a log).

CLI: `python -m leadloop.dead_letters {list,show,replay,purge} --service scoring [...]`.
"""

import argparse
import asyncio
import sys
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import RecordsToDelete

from leadloop.connections import KafkaAddress
from leadloop.events.topology import dead_letter_topic_of
from leadloop.kafka import create_admin, create_consumer, create_producer
from leadloop.settings import ServiceSettings

DLQ_PARTITION = 0  # the only partition of a dead-letter topic


@dataclass(frozen=True)
class DeadLetter:
    """One parked record."""

    offset: int
    event_id: str | None
    event_type: str | None
    lead_id: str | None
    error_type: str | None
    error: str | None
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def summary(self) -> dict[str, object]:
        """What an operator sees in a listing."""
        return {
            "offset": self.offset, "event_id": self.event_id, "event_type": self.event_type,
            "lead_id": self.lead_id, "error_type": self.error_type, "error": self.error,
            "source_topic": self.source_topic, "source_partition": self.source_partition,
            "source_offset": self.source_offset,
        }

    def detail(self) -> dict[str, object]:
        """Everything, with the value as text when it is text."""
        return {**self.summary(),
                "value": (self.value or b"").decode("utf-8", "replace"),
                "headers": {k: v.decode("utf-8", "replace") for k, v in self.headers}}


def _dead_letter(offset: int, key: bytes | None, value: bytes | None,
                 headers: tuple[tuple[str, bytes], ...]) -> DeadLetter:
    h = {k: v.decode("utf-8", "replace") for k, v in headers}

    def as_int(name: str) -> int | None:
        return int(h[name]) if h.get(name, "").isdigit() else None

    return DeadLetter(offset, h.get("ce_id"), h.get("ce_type"), h.get("ce_subject"),
                      h.get("dlq_error_type"), h.get("dlq_error"), h.get("dlq_topic"),
                      as_int("dlq_partition"), as_int("dlq_offset"), key, value, headers)


async def list_dead_letters(bootstrap_servers: KafkaAddress, service: str, *, from_offset: int = 0,
                            limit: int = 100) -> list[DeadLetter]:
    """Parked records of `service`, oldest first, starting at `from_offset`."""
    tp = TopicPartition(dead_letter_topic_of(service), DLQ_PARTITION)
    consumer = create_consumer(kafka=bootstrap_servers, group_id=None,
                               enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        start = max(from_offset, (await consumer.beginning_offsets([tp]))[tp])
        if start >= end:
            return []
        consumer.seek(tp, start)
        found: list[DeadLetter] = []
        while len(found) < limit:
            batch = (await consumer.getmany(tp, timeout_ms=1000)).get(tp, [])
            for record in batch:
                found.append(_dead_letter(record.offset, record.key, record.value,
                                          tuple(record.headers or ())))
                if record.offset + 1 >= end or len(found) >= limit:
                    return found
        return found
    finally:
        await consumer.stop()


async def get_dead_letter(bootstrap_servers: KafkaAddress, service: str, offset: int
                          ) -> DeadLetter | None:
    """The parked record at `offset`, or None (never parked, or purged)."""
    found = await list_dead_letters(bootstrap_servers, service, from_offset=offset, limit=1)
    return found[0] if found and found[0].offset == offset else None


async def replay_dead_letter(producer: AIOKafkaProducer, letter: DeadLetter) -> None:
    """Publish the original record back to its source topic, without the dlq_* headers."""
    if not letter.source_topic:
        raise ValueError(f"dead letter at offset {letter.offset} names no source topic")
    headers = [(k, v) for k, v in letter.headers if not k.startswith("dlq_")]
    await producer.send_and_wait(letter.source_topic, value=letter.value, key=letter.key,
                                 headers=headers)


class OffsetPastEnd(ValueError):
    """A purge asked to delete records that do not exist yet."""


async def purge_dead_letters(bootstrap_servers: KafkaAddress, service: str, before_offset: int
                             ) -> None:
    """Delete every parked record below `before_offset` (at most up to the end of the DLQ)."""
    tp = TopicPartition(dead_letter_topic_of(service), DLQ_PARTITION)
    consumer = create_consumer(kafka=bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        end = (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
    if before_offset > end:
        raise OffsetPastEnd(f"before_offset {before_offset} is past the end of the "
                            f"dead letters ({end})")
    admin = create_admin(bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_records({tp: RecordsToDelete(before_offset)})
    finally:
        await admin.close()


async def _cli(args: argparse.Namespace) -> int:
    out = sys.stdout
    # The service's own Kafka settings (LEADLOOP_<SERVICE>_KAFKA_*: address, TLS, SASL).
    settings = ServiceSettings(_env_prefix=f"LEADLOOP_{args.service.upper()}_")  # type: ignore[call-arg]
    if args.bootstrap_servers:
        settings.kafka_bootstrap_servers = args.bootstrap_servers
    args.bootstrap_servers = settings.kafka
    if args.command == "list":
        for letter in await list_dead_letters(args.bootstrap_servers, args.service,
                                              from_offset=args.from_offset, limit=args.limit):
            out.write(orjson.dumps(letter.summary()).decode() + "\n")
        return 0
    if args.command == "purge":
        await purge_dead_letters(args.bootstrap_servers, args.service, args.before)
        out.write(f"purged {dead_letter_topic_of(args.service)} below offset {args.before}\n")
        return 0
    found = await get_dead_letter(args.bootstrap_servers, args.service, args.offset)
    if found is None:
        sys.stderr.write(f"no dead letter at offset {args.offset}\n")
        return 1
    if args.command == "show":
        out.write(orjson.dumps(found.detail(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    producer = create_producer(args.bootstrap_servers, f"{args.service}-dead-letters")
    await producer.start()
    try:
        await replay_dead_letter(producer, found)
    finally:
        await producer.stop()
    out.write(f"replayed offset {args.offset} to {found.source_topic}\n")
    return 0


def main() -> None:
    """Entry point of the dead-letter CLI."""
    parser = argparse.ArgumentParser(prog="python -m leadloop.dead_letters")
    parser.add_argument("command", choices=["list", "show", "replay", "purge"])
    parser.add_argument("--service", required=True, help="the consuming service")
    parser.add_argument("--bootstrap-servers",
                        help="default: LEADLOOP_<SERVICE>_KAFKA_BOOTSTRAP_SERVERS")
    parser.add_argument("--offset", type=int, help="show/replay: the dead letter's offset")
    parser.add_argument("--from-offset", type=int, default=0)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--before", type=int, help="purge: delete everything below this offset")
    args = parser.parse_args()
    if args.command in ("show", "replay") and args.offset is None:
        parser.error(f"{args.command} needs --offset")
    if args.command == "purge" and args.before is None:
        parser.error("purge needs --before")
    sys.exit(asyncio.run(_cli(args)))


if __name__ == "__main__":
    main()
