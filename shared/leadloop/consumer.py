"""The consumer runner: decode, dedupe, dispatch, commit, then commit the offset.

At-least-once from Kafka, exactly-once in effect: a batch's handler effects and its
processed-event records (consumer + event id) commit in one database transaction, and the offsets
are committed only after it. A redelivered event finds its record and changes nothing.

Transient failures (database or broker down) retry the batch with backoff and never skip an
event. Any other failure isolates the event that causes it: it is tried alone up to N times, then
parked in `leadloop.<service>.dlq` with the error in its headers, and the consumer moves on.
Records that are not valid events cannot succeed on retry and go to the dead-letter topic at once.
"""

import asyncio
import functools
import heapq
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC
from uuid import UUID

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.connections import KafkaAddress
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent, EnvelopeError, EventData, parse_event
from leadloop.events.topology import dead_letter_topic_of
from leadloop.handlers import Handlers, Item
from leadloop.kafka import create_consumer
from leadloop.keyring import (
    KeyArrivals,
    KeyUnavailable,
    keeping_keys,
    key_arrays,
    known_keys,
    reveal_event,
)
from leadloop.observability import (
    CONSUMER_LAG,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_DUPLICATE,
    HANDLER_SECONDS,
    bind_context,
)
from leadloop.pii import PiiError, has_sealed_data, may_hold_sealed, reveal
from leadloop.retry import Backoff, is_transient
from leadloop.settings import ServiceSettings
from leadloop.tracing import traced_each


# One statement for any batch size (the ids travel as arrays), so asyncpg prepares it once per
# connection.
def _inbox_sql(first: int) -> str:
    """Record the batch's events in the inbox (returning those not seen before) and read its
    leads' keys, in one statement; parameters: consumer, event ids, lead ids, from ${first}.
    The keys are read in the batch's transaction, so sealing what it publishes needs no lookup
    of its own at commit (UnitOfWork.keys_read)."""
    consumer, event_ids, lead_ids = (f"${n}" for n in range(first, first + 3))
    return f"""inbox AS (
    INSERT INTO processed_events (consumer, event_id)
    SELECT {consumer}, unnest({event_ids}::text[]) ON CONFLICT DO NOTHING RETURNING event_id)
SELECT event_id, NULL::text AS lead_id, NULL::bytea AS data_key FROM inbox
UNION ALL
SELECT NULL, lead_id, data_key FROM lead_keys WHERE lead_id = ANY({lead_ids}::text[])"""


_INBOX = f"WITH {_inbox_sql(1)}"
# The same, storing the keys the batch brings first (leadloop.keyring.keeping_keys). The read
# does not see the keys stored (one snapshot): they count where the table had no row.
_INBOX_KEEPING_KEYS = keeping_keys(f", {_inbox_sql(3)}")

log = logging.getLogger(__name__)

DEAD_LETTER_MAX_BYTES = 1_000_000
"""The most a dead-letter record (value, key and headers) may take: under the producer's and
the broker's default limit of 1 MiB, with room for the record's own framing."""


@functools.lru_cache(maxsize=4096)  # a batch names a few hundred leads, again and again
def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def in_causal_order(deliveries: list["Delivery"]) -> list["Delivery"]:
    """The batch with its partitions interleaved by event time, each partition's own order
    kept: a lead's events from several topics (say lead.qualified from scoring and the
    lead.handed_off it caused) are applied in the order they happened, not in the order the
    fetch happened to list the partitions."""
    partitions: dict[tuple[str, int], list[Delivery]] = {}
    for delivery in deliveries:
        partitions.setdefault((delivery.record.topic, delivery.record.partition),
                              []).append(delivery)
    if len(partitions) == 1:
        return deliveries
    # heapq.merge only ever compares the heads of its inputs, so each partition's order stands
    # even where its event times are not monotonic.
    return list(heapq.merge(*partitions.values(), key=_event_timestamp))


def _event_timestamp(delivery: "Delivery") -> float:
    at = delivery.envelope.time  # a ce_time without a zone (another producer's) counts as UTC
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True, slots=True)
class Delivery:
    """One Kafka record and the event decoded from it."""

    record: ConsumerRecord[bytes, bytes]
    envelope: CloudEvent
    event: EventData


# --- the steps a replay shares with the runner (outcomes' rebuild) ------------------------------


class SealedWithoutLead(EnvelopeError):
    """An event with sealed fields whose subject is not a lead id: no key will ever open them."""

    def __init__(self, event_type: str) -> None:
        super().__init__("ce_subject is not a lead id")
        self.event_type = event_type


def envelope_of(record: ConsumerRecord[bytes, bytes], handlers: Handlers
                ) -> tuple[CloudEvent, bool] | None:
    """The record's envelope, and whether it holds sealed fields; None when `handlers` do not
    take its type. Raises for a record that is not an event, or whose sealed fields name no
    lead (no key will ever open them): the runner parks those."""
    # A type named in the headers that this service does not handle is skipped before its
    # data is parsed: consumers read whole topics, and most of some topics is not theirs.
    for name, value in record.headers or ():
        if name == "ce_type":
            if value is not None and value.decode("utf-8", "replace") not in handlers:
                return None
            break
    envelope = CloudEvent.from_kafka(record.value, record.headers)
    if not handlers.wants(envelope.type, envelope.data):
        return None  # consumers ignore types (and events) they do not handle
    sealed = may_hold_sealed(record.value or b"") and has_sealed_data(envelope.data)
    if sealed and not _is_uuid(envelope.subject):
        raise SealedWithoutLead(envelope.type)
    if sealed and not handlers.needs_personal_data(envelope.type):
        # Its handler reads no personal field: they read as empty, no key is needed.
        return envelope.with_data(reveal(envelope.data, envelope.subject, None)), False
    return envelope, sealed


def decode(record: ConsumerRecord[bytes, bytes], envelope: CloudEvent, sealed: bool,
           keys: dict[str, bytes | None], *, keep_erased: bool = False,
           fields: Collection[str] | None = None) -> Delivery | None:
    """Reveal the sealed fields with the lead's key (only those named `fields`, when given: see
    `Handlers.personal_fields`) and parse the event. None for an erased person's event (nothing
    left to act on), unless `keep_erased`: then it comes with its personal fields emptied.
    Raises KeyUnavailable, PiiError or ValidationError for a record that can never be
    applied."""
    if sealed:
        data = reveal_event(envelope, keys, keep_erased=keep_erased, fields=fields)
        if data is None:
            return None
        envelope = envelope.with_data(data)
    return Delivery(record, envelope, parse_event(envelope.type, envelope.data))


async def apply_isolating(deliveries: list[Delivery],
                          apply_batch: Callable[[list[Delivery]], Awaitable[bool]],
                          apply_one: Callable[[Delivery], Awaitable[None]]) -> None:
    """`apply_batch` the deliveries (False: it failed); when it fails, each half in turn the
    same way, down to the failing event alone, which goes to `apply_one`. The rest of the batch
    is applied in a few larger transactions (about 2·log2(n)), not one by one, and the halves
    go in order, so each lead's events keep theirs."""
    if len(deliveries) == 1:
        await apply_one(deliveries[0])
        return
    if await apply_batch(deliveries):
        return
    middle = len(deliveries) // 2
    await apply_isolating(deliveries[:middle], apply_batch, apply_one)
    await apply_isolating(deliveries[middle:], apply_batch, apply_one)


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: "ConsumerRunner") -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._runner.commit_offsets(set(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None


@dataclass(frozen=True)
class ConsumerTuning:
    """How a consumer fetches, retries and commits (from the service's settings, see
    `ConsumerTuning.of`; tests shorten the backoff)."""

    batch_size: int = 500
    max_attempts: int = 5
    retry_backoff_s: float = 0.2
    retry_backoff_max_s: float = 10.0
    commit_interval_s: float = 1.0
    key_wait_s: float = 300.0
    fetch_min_bytes: int = 1
    fetch_max_wait_ms: int = 500

    @classmethod
    def of(cls, settings: ServiceSettings) -> "ConsumerTuning":
        return cls(batch_size=settings.consumer_batch_size,
                   max_attempts=settings.consumer_max_attempts,
                   retry_backoff_s=settings.consumer_retry_backoff_s,
                   retry_backoff_max_s=settings.consumer_retry_backoff_max_s,
                   key_wait_s=settings.consumer_key_wait_s,
                   fetch_min_bytes=settings.consumer_fetch_min_bytes,
                   fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms)


KEY_POLL_S = (0.05, 1.0)
"""The first and the longest wait between two lookups of keys that have not come in, when no
arrival wakes the runner sooner (another replica's feed may be the one storing them)."""


class ConsumerRunner:
    """Consumes the given topics as the service's consumer group and hands each batch to the
    service's batch handlers."""

    def __init__(self, *, service: str, engine: AsyncEngine, producer: AIOKafkaProducer,
                 bootstrap_servers: KafkaAddress, topics: list[str], handlers: Handlers,
                 tuning: ConsumerTuning = ConsumerTuning(),
                 key_arrivals: KeyArrivals | None = None) -> None:
        self._service = service
        self._engine = engine
        self._producer = producer
        self._bootstrap_servers = bootstrap_servers
        self._topics = topics
        self._handlers = handlers
        self._tuning = tuning
        self._backoff_s = (tuning.retry_backoff_s, tuning.retry_backoff_max_s)
        self._last_commit = 0.0  # time.monotonic() of the last offset commit (and lag report)
        self._key_arrivals = key_arrivals
        self._consumer: AIOKafkaConsumer | None = None
        self._processed: dict[TopicPartition, int] = {}  # next offset to commit, per partition
        self._stopping = asyncio.Event()
        self.running = False

    @property
    def assignment(self) -> set[TopicPartition]:
        """The partitions the group gives this runner now (empty before it joins)."""
        return set(self._consumer.assignment()) if self._consumer is not None else set()

    def stop(self) -> None:
        """Finish the batch in hand, commit it, and leave the group."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until stopped."""
        self._consumer = create_consumer(
            kafka=self._bootstrap_servers,
            group_id=self._service,
            client_id=f"{self._service}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._tuning.batch_size,
            fetch_min_bytes=self._tuning.fetch_min_bytes,
            fetch_max_wait_ms=self._tuning.fetch_max_wait_ms,
            # Handlers run between polls; leave generous room before the group evicts us.
            max_poll_interval_ms=600_000,
        )
        self._consumer.subscribe(self._topics, listener=_CommitOnRevoke(self))
        await self._start_consumer()
        self.running = True
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(timeout_ms=500)
                records = [r for tp_records in batches.values() for r in tp_records]
                if records:
                    await self._process(records)
                # Offsets are committed at most once a commit interval, not after every batch:
                # at a trickle each batch is a few events, and a broker round trip per batch
                # would cost more than the batch. Events handled since the last commit are
                # redelivered after a crash and found in the inbox: nothing is applied twice.
                if time.monotonic() - self._last_commit >= self._tuning.commit_interval_s:
                    self._last_commit = time.monotonic()
                    await self.commit_offsets()
                    await self._report_lag()
        finally:
            self.running = False
            try:
                await self.commit_offsets()
            finally:
                await self._consumer.stop()

    async def _start_consumer(self) -> None:
        assert self._consumer is not None
        backoff = Backoff(max_s=self._backoff_s[1])
        while True:
            try:
                await self._consumer.start()
                return
            except KafkaError:
                log.warning("Kafka not reachable; retrying consumer start", exc_info=True)
                await backoff.sleep()

    async def commit_offsets(self, partitions: set[TopicPartition] | None = None) -> None:
        """Commit what has been processed (all partitions, or just `partitions`)."""
        if self._consumer is None:
            return
        offsets = {tp: o for tp, o in self._processed.items() if not partitions or tp in partitions}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError):
            # The group moved on (rebalance, broker restart): whoever gets these partitions
            # re-reads from the last commit, and the inbox turns the repeats into no-ops.
            log.warning("offset commit failed; events will be redelivered and deduped",
                        exc_info=True)
        for tp in offsets:
            if self._processed.get(tp) == offsets[tp]:
                del self._processed[tp]

    async def _report_lag(self) -> None:
        assert self._consumer is not None
        lag_by_topic: dict[str, int] = {}
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue  # nothing fetched from this partition yet
            try:
                position = await self._consumer.position(tp)
            except Exception:  # assignment changed under us; next round reports
                continue
            lag_by_topic[tp.topic] = lag_by_topic.get(tp.topic, 0) + max(0, highwater - position)
        for topic, lag in lag_by_topic.items():
            CONSUMER_LAG.labels(self._service, topic).set(lag)

    # --- processing ---------------------------------------------------------------------------

    async def _process(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        # Envelopes first: types this service does not handle are dropped before anything
        # else, and only events that carry sealed fields need their lead's data key.
        # Each record is decoded in plain calls; one that raises is taken again the careful
        # way (decoding is pure, so it fails the same), which parks it or waits out an outage.
        # A coroutine and a retry policy per record cost more than most records' decoding.
        envelopes: list[tuple[ConsumerRecord[bytes, bytes], CloudEvent, bool]] = []
        for record in records:
            try:
                found = envelope_of(record, self._handlers)
            except Exception:  # sorted out below
                found = await self._envelope_or_dead_letter(record)
            if found is not None:
                envelopes.append((record, *found))
        keys = await self._known_keys([e.subject for _r, e, sealed in envelopes if sealed])
        deliveries: list[Delivery] = []
        personal_fields = self._handlers.personal_fields
        for record, envelope, sealed in envelopes:
            try:
                delivery = decode(record, envelope, sealed, keys,
                                  fields=personal_fields(envelope.type))
            except Exception:  # sorted out below
                delivery = await self._decode_or_dead_letter(record, envelope, sealed, keys)
            if delivery is not None:
                deliveries.append(delivery)
        if deliveries:
            await self._apply_isolating(in_causal_order(deliveries))
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            self._processed[tp] = max(self._processed.get(tp, 0), record.offset + 1)

    async def _known_keys(self, lead_ids: list[str]) -> dict[str, bytes | None]:
        """The data keys of these leads, in one query. Keys not in yet (they travel on the keys
        topic, and an event can overtake its key) are waited for together: looked up again
        whenever the key feed stores keys, and at growing intervals anyway (another replica's
        feed may be the one storing them), for up to the key wait. A lead still without a key
        is left out; its events are then parked."""
        missing = set(lead_ids)
        keys: dict[str, bytes | None] = {}
        deadline = time.monotonic() + self._tuning.key_wait_s
        poll_s, longest_s = KEY_POLL_S
        while missing:
            # Taken before the lookup: a key the feed reads while the database is asked wakes
            # the wait below at once, instead of after poll_s.
            arrival = (self._key_arrivals.next_arrival()
                       if self._key_arrivals is not None else None)
            keys.update(await self._lookup_keys(missing))
            missing -= keys.keys()
            if not missing or time.monotonic() >= deadline:
                break
            if arrival is not None:
                await KeyArrivals.wait(arrival, poll_s)
            else:
                await asyncio.sleep(poll_s)
            poll_s = min(poll_s * 2, longest_s)
        return keys

    async def _lookup_keys(self, lead_ids: set[str]) -> dict[str, bytes | None]:
        """Keys the key feed just read come from memory (and are stored with the batch, see
        _apply); the database is asked for the rest."""
        keys = self._key_arrivals.recall(lead_ids) if self._key_arrivals is not None else {}
        if len(keys) == len(lead_ids):
            return keys
        backoff = Backoff(*self._backoff_s)
        while True:
            try:
                return {**await known_keys(self._engine, lead_ids - keys.keys()), **keys}
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("database unavailable; retrying key lookup", exc_info=True)
                await backoff.sleep()

    async def _envelope_or_dead_letter(self, record: ConsumerRecord[bytes, bytes]
                                       ) -> tuple[CloudEvent, bool] | None:
        """The record's envelope, and whether it holds sealed fields, if this service handles
        its type; a record that is not an event, or whose sealed fields name no lead, is parked
        (no key will ever open them)."""
        try:
            return envelope_of(record, self._handlers)
        except SealedWithoutLead as exc:
            await self._dead_letter(record, exc, event_type=exc.event_type)
        except Exception as exc:  # nothing a record holds may stop the consumer
            await self._dead_letter(record, exc, event_type="unknown", why="cannot be decoded")
        return None

    async def _decode_or_dead_letter(self, record: ConsumerRecord[bytes, bytes],
                                     envelope: CloudEvent, sealed: bool,
                                     keys: dict[str, bytes | None]) -> Delivery | None:
        """Reveal and parse; a record that fails in a way decoding did not foresee is parked
        too: nothing a record holds may stop the consumer. Database outages are waited out,
        never skipped."""
        backoff = Backoff(*self._backoff_s)
        while True:
            try:
                return await self._decode(record, envelope, sealed, keys)
            except Exception as exc:  # sorted into transient or not below
                if not is_transient(exc):
                    await self._dead_letter(record, exc, event_type=envelope.type,
                                            why="cannot be decoded")
                    return None
                log.warning("transient failure decoding a record; retrying", exc_info=True)
                await backoff.sleep()

    async def _decode(self, record: ConsumerRecord[bytes, bytes], envelope: CloudEvent,
                      sealed: bool, keys: dict[str, bytes | None]) -> Delivery | None:
        try:
            # The key was waited for with the batch's (see _known_keys): none means none.
            return decode(record, envelope, sealed, keys,
                          fields=self._handlers.personal_fields(envelope.type))
        except (KeyUnavailable, PiiError, ValidationError) as exc:
            await self._dead_letter(record, exc, event_type=envelope.type)
            return None

    async def _apply_retrying_transient(self, deliveries: list[Delivery], *,
                                        whole_batch: bool) -> bool:
        """Apply; retry forever while the failure is transient. False on any other failure."""
        backoff = Backoff(*self._backoff_s)
        while True:
            try:
                await self._apply(deliveries)
                return True
            except Exception as exc:  # sorted into transient or not below
                if not is_transient(exc):
                    if not whole_batch:
                        raise
                    log.info("batch failed; isolating the failing event", exc_info=True)
                    return False
                log.warning("transient failure; retrying batch", exc_info=True)
                await backoff.sleep()

    async def _apply_isolating(self, deliveries: list[Delivery]) -> None:
        """Apply the batch; when it fails, apply each half in turn the same way, down to the
        failing event alone, which is retried and then dead-lettered. The rest of the batch is
        applied in a few larger transactions (about 2·log2(n)), not one by one, and the halves
        go in order, so each lead's events keep theirs."""
        await apply_isolating(
            deliveries, lambda batch: self._apply_retrying_transient(batch, whole_batch=True),
            self._apply_one_or_dead_letter)

    async def _apply_one_or_dead_letter(self, delivery: Delivery) -> None:
        backoff = Backoff(*self._backoff_s)
        for attempt in range(1, self._tuning.max_attempts + 1):
            try:
                await self._apply_retrying_transient([delivery], whole_batch=False)
                return
            except Exception as exc:  # a handler bug or bad data: count it
                if attempt == self._tuning.max_attempts:
                    await self._dead_letter(delivery.record, exc, event_type=delivery.envelope.type,
                                            why=f"failed {attempt} times")
                    return
                await backoff.sleep()

    async def _apply(self, deliveries: list[Delivery]) -> None:
        started = time.perf_counter()
        async with UnitOfWork(self._engine, self._service) as uow:
            ids = list(dict.fromkeys(d.envelope.id for d in deliveries))
            driver = await uow.driver()
            # Keys the feed read but has not stored yet are stored with the batch's inbox rows,
            # so what it publishes is sealed with them (see UnitOfWork.commit) and so is
            # anything published about these leads later.
            arrivals = self._key_arrivals
            keys = arrivals.unstored(d.envelope.subject for d in deliveries) if arrivals else {}
            subjects = sorted({d.envelope.subject for d in deliveries})
            if arrivals is not None and keys:
                rows = await driver.fetch(_INBOX_KEEPING_KEYS, *key_arrays(keys),
                                          self._service, ids, subjects)
                uow.after_commit(lambda: arrivals.now_stored(keys))
            else:
                rows = await driver.fetch(_INBOX, self._service, ids, subjects)
            fresh = {event_id for event_id, _lead, _key in rows if event_id is not None}
            uow.keys_read = {**keys, **{lead_id: key for event_id, lead_id, key in rows
                                        if event_id is None}}
            applying: list[Delivery] = []
            for delivery in deliveries:
                if delivery.envelope.id not in fresh:
                    EVENTS_DUPLICATE.labels(self._service).inc()
                    continue
                fresh.discard(delivery.envelope.id)  # the same event twice in one batch: once
                applying.append(delivery)
            with traced_each([(f"consume {d.envelope.type}", d.envelope.traceparent, {
                    "messaging.destination.name": d.record.topic,
                    "messaging.message.id": d.envelope.id,
                    "leadloop.lead_id": d.envelope.subject}) for d in applying]) as traceparents:
                # Events a handler publishes about a lead continue the trace of the lead's
                # event being applied (see UnitOfWork.publish).
                uow.causes = {d.envelope.subject: tp
                              for d, tp in zip(applying, traceparents, strict=True)}
                if len(applying) == 1:  # an isolated event: its logs name it
                    bind_context(event_id=applying[0].envelope.id,
                                 lead_id=applying[0].envelope.subject, traceparent=traceparents[0])
                await self._handlers.apply(uow, [Item(d.event, d.envelope) for d in applying])
            await uow.commit()
        bind_context()
        HANDLER_SECONDS.labels(self._service).observe(time.perf_counter() - started)
        for event_type, count in Counter(d.envelope.type for d in deliveries).items():
            EVENTS_CONSUMED.labels(self._service, event_type).inc(count)

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], exc: BaseException, *,
                           event_type: str, why: str = "cannot be processed") -> None:
        """Park `record` unchanged in the DLQ, with why and where from in extra headers."""
        # Logged with the event, lead and trace it names (read from the record: it may not
        # even decode as an event).
        attributes = {k: v.decode("utf-8", "replace") for k, v in record.headers or ()
                      if k in ("ce_id", "ce_traceparent")}
        bind_context(event_id=attributes.get("ce_id"),
                     lead_id=record.key.decode("utf-8", "replace") if record.key else None,
                     traceparent=attributes.get("ce_traceparent"))
        log.error("dead-lettering %s event from %s[%d]@%d: %s", event_type, record.topic,
                  record.partition, record.offset, why, exc_info=exc)
        bind_context()
        headers = [
            *(record.headers or ()),
            ("dlq_error_type", type(exc).__name__.encode()),
            ("dlq_error", str(exc)[:4000].encode()),
            ("dlq_consumer", self._service.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_failed_at", str(time.time()).encode()),
        ]
        value = record.value
        room = DEAD_LETTER_MAX_BYTES - sum(len(k) + len(v) for k, v in headers) \
            - len(record.key or b"")
        if value is not None and len(value) > room:
            # The record plus our headers would exceed what the producer may send, and would be
            # refused on every retry: park its head, and say so.
            headers += [("dlq_truncated", b"true"),
                        ("dlq_original_bytes", str(len(value)).encode())]
            value = value[:max(room - 1024, 0)]
        backoff = Backoff(*self._backoff_s)
        while True:  # parking must succeed before the offset moves past the record
            try:
                await self._producer.send_and_wait(
                    dead_letter_topic_of(self._service), value=value, key=record.key,
                    headers=headers, partition=0,  # DLQs have one partition: failures in order
                )
                break
            except KafkaError:
                log.warning("dead-letter topic unreachable; retrying", exc_info=True)
                await backoff.sleep()
        EVENTS_DEAD_LETTERED.labels(self._service, event_type).inc()
