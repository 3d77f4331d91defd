"""Per-lead data keys: issued by capture, copied by every consumer, destroyed on erasure.

Capture (the key owner) issues a lead's key the first time one of its events carries personal
data, in the same transaction as that event, and publishes it through its outbox to the
compacted keys topic. Every consuming service runs a `KeysConsumer` beside its ConsumerRunner
(a separate consumer group, so an event that arrives before its key can wait for it without
holding up the key feed) and keeps the keys in its own `lead_keys` table.

Erasure: capture nulls its key and publishes an "erased" marker under the lead id, which
replaces the key in the compacted topic; each service nulls its copy and drops sent outbox rows
about the lead. From then on every stored event about the person is ciphertext nobody can open,
and consumers skip such events instead of failing on them.
"""

import asyncio
import base64
import contextlib
import logging
import math
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from aiokafka import ConsumerRecord
from aiokafka.errors import CommitFailedError, KafkaError
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leadloop.connections import KafkaAddress
from leadloop.events.envelope import CloudEvent, new_traceparent
from leadloop.events.topology import KEY_OWNER, KEYS_TOPIC
from leadloop.infra_tables import lead_keys, outbox
from leadloop.kafka import create_consumer
from leadloop.pii import has_personal_data, has_sealed_data, new_data_key, reveal, seal
from leadloop.retry import Backoff, is_transient

KEY_RECORD_TYPE = "leadloop.lead.key.v1"
"""The type of a keys-topic record: internal to LeadLoop, not a published domain event."""

log = logging.getLogger(__name__)


class KeyUnavailable(Exception):
    """An event's personal fields are encrypted with a key this service has not received."""


# --- writing: seal events on their way into the outbox -------------------------------------


# One statement shape for any number of leads (an array, not an IN list of parameters), so
# asyncpg prepares it once per connection.
_KEYS_OF = "SELECT lead_id, data_key FROM lead_keys WHERE lead_id = ANY($1::text[])"


async def _keys_of(driver: asyncpg.Connection, lead_ids: Iterable[str]
                   ) -> dict[str, bytes | None]:
    """Each known lead's key (None once erased); unknown leads are absent."""
    rows = await driver.fetch(_KEYS_OF, list(lead_ids))
    return {row["lead_id"]: row["data_key"] for row in rows}


def _key_record(lead_id: str, payload: dict[str, Any], source: str) -> dict[str, Any]:
    """An outbox row for the keys topic (its key is the lead id, like every LeadLoop record)."""
    return {"event_id": f"key-{lead_id}-{time.time_ns()}", "topic": KEYS_TOPIC,
            "event_type": KEY_RECORD_TYPE, "subject": lead_id, "source": source,
            "occurred_at": datetime.now(UTC), "traceparent": new_traceparent(),
            "data": orjson.dumps({"lead_id": lead_id, **payload})}


_INSERT_KEYS = """
INSERT INTO lead_keys (lead_id, data_key)
SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING RETURNING lead_id"""

# Issuing keys is one statement: the keys, and for each one actually inserted (a concurrent
# transaction may have issued a lead's key first) its record for the keys topic, queued in the
# outbox. Records are built for every fresh key; the join keeps those whose key went in.
_ISSUE_KEYS = f"""
WITH issued AS ({_INSERT_KEYS}),
records AS (
    INSERT INTO outbox (event_id, topic, event_type, subject, source, occurred_at, traceparent,
                        data)
    SELECT r.event_id, r.topic, r.event_type, r.subject, r.source, r.occurred_at, r.traceparent,
           r.data
    FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                $8::timestamptz[], $9::text[], $10::bytea[])
         AS r(event_id, topic, event_type, subject, source, occurred_at, traceparent, data)
    JOIN issued ON issued.lead_id = r.subject)
SELECT lead_id FROM issued"""

_RECORD_COLUMNS = ("event_id", "topic", "event_type", "subject", "source", "occurred_at",
                   "traceparent", "data")


async def issue_keys(driver: asyncpg.Connection, lead_ids: Sequence[str], source: str
                     ) -> dict[str, bytes]:
    """Key owner: give each lead without a key a new one and queue it for the keys topic, in
    one statement whose text never changes (prepared once, whatever the number of leads).
    Returns the keys issued here; a lead that got its key from a concurrent transaction is
    left out (its events are sealed at commit with the key looked up then)."""
    if not lead_ids:
        return {}
    fresh = {lead_id: new_data_key() for lead_id in lead_ids}
    records = [_key_record(lead_id, {"data_key": base64.b64encode(key).decode()}, source)
               for lead_id, key in fresh.items()]
    rows = await driver.fetch(_ISSUE_KEYS, list(fresh), list(fresh.values()),
                              *([record[c] for record in records] for c in _RECORD_COLUMNS))
    return {row["lead_id"]: fresh[row["lead_id"]] for row in rows}


def keeping_keys(statement: str) -> str:
    """`statement` with the storing of keys before it, as one statement: a consumer batch keeps
    copies of the keys its key feed read but may not have stored yet (`key_arrays` gives $1 and
    $2; `statement`'s own parameters start at $3), so whatever the batch publishes about those
    leads, and anything published later, is sealed with them. A key already there, or an
    erased lead's empty row, is left as it is."""
    return f"WITH kept AS ({_INSERT_KEYS})\n{statement}"


def key_arrays(keys: dict[str, bytes]) -> tuple[list[str], list[bytes]]:
    """Lead ids and their keys as the two arrays every writer of the table inserts, in lead id
    order: two transactions storing the same keys (the key feed's and a consumer batch's) then
    wait for each other, never deadlock."""
    ordered = sorted(keys)
    return ordered, [keys[lead_id] for lead_id in ordered]


async def _insert_keys(driver: asyncpg.Connection, keys: dict[str, bytes]) -> None:
    await driver.execute(_INSERT_KEYS, *key_arrays(keys))


async def _issue_keys(driver: asyncpg.Connection, lead_ids: Sequence[str], source: str
                      ) -> dict[str, bytes | None]:
    """Create keys for leads that have none and queue them for the keys topic."""
    issued: dict[str, bytes | None] = dict(await issue_keys(driver, lead_ids, source))
    raced = [i for i in lead_ids if i not in issued]  # issued by a concurrent transaction
    return {**issued, **(await _keys_of(driver, raced) if raced else {})}


async def seal_events(driver: asyncpg.Connection, events: list[CloudEvent], source: str,
                      read: Mapping[str, bytes | None] | None = None) -> list[CloudEvent]:
    """`events` with their personal fields encrypted under each lead's key (`driver`: the
    transaction's connection, see UnitOfWork.driver).

    The key owner issues missing keys. Another service seals with its copy; it has none only for
    a lead whose events reached it in plain text (from before encryption), and passes those on as
    they came. An event with personal data about an erased lead is dropped: nobody may publish
    it any more.

    `read`: keys this transaction read already (a consumer batch reads its leads' keys with its
    inbox rows, see leadloop.consumer); only the other leads' keys are looked up.
    """
    subjects = sorted({e.subject for e in events if has_personal_data(e.data)})
    if not subjects:
        return events
    known = read or {}
    keys = {subject: known[subject] for subject in subjects if subject in known}
    unread = [subject for subject in subjects if subject not in known]
    if unread:
        keys.update(await _keys_of(driver, unread))
    missing = [s for s in subjects if s not in keys]
    if missing and source == KEY_OWNER:
        keys.update(await _issue_keys(driver, missing, source))
    sealed = []
    for event in events:
        if event.subject not in keys or not has_personal_data(event.data):
            sealed.append(event)
            continue
        key = keys[event.subject]
        if key is None:
            log.info("not publishing %s: lead %s was erased", event.type, event.subject)
            continue
        sealed.append(event.with_data(seal(event.data, event.subject, key)))
    return sealed


# --- erasure ---------------------------------------------------------------------------------


async def _forget_keys(conn: AsyncConnection, lead_ids: Sequence[str]) -> None:
    """Null the keys, keeping the row as the 'erased' mark: sealed copies of the leads' data
    (in Kafka and in rows still to be published) are unreadable now. Published rows are not
    kept (the relay deletes what it publishes)."""
    statement = pg_insert(lead_keys).values(
        [{"lead_id": i, "data_key": None, "erased_at": func.now()} for i in lead_ids])
    await conn.execute(statement.on_conflict_do_update(
        index_elements=[lead_keys.c.lead_id],
        set_={"data_key": None,
              "erased_at": func.coalesce(lead_keys.c.erased_at, statement.excluded.erased_at)}))


async def shred_keys(conn: AsyncConnection, lead_ids: Sequence[str], source: str) -> None:
    """Key owner: destroy the leads' keys and tell every service, through the keys topic."""
    if not lead_ids:
        return
    await _forget_keys(conn, lead_ids)
    # An unsent key record must not go out after its erasure.
    await conn.execute(delete(outbox).where(outbox.c.topic == KEYS_TOPIC,
                                            outbox.c.subject.in_(list(lead_ids))))
    await conn.execute(insert(outbox), [_key_record(i, {"erased": True}, source)
                                        for i in lead_ids])


async def is_shredded(conn: AsyncConnection, lead_id: str) -> bool:
    """Whether this lead's key was destroyed (the lead was erased)."""
    erased_at = await conn.scalar(select(lead_keys.c.erased_at)
                                  .where(lead_keys.c.lead_id == lead_id))
    return erased_at is not None


# --- reading: reveal events as consumers parse them ------------------------------------------


async def known_keys(engine: AsyncEngine, lead_ids: Iterable[str]) -> dict[str, bytes | None]:
    """The keys this service holds for these leads, in one query (a consumer batch's worth).

    Straight on the driver with no transaction: one round trip, where SQLAlchemy would add a
    BEGIN and a ROLLBACK around the read."""
    wanted = sorted(set(lead_ids))
    if not wanted:
        return {}
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        return await _keys_of(driver, wanted)


def _revealed(envelope: CloudEvent, key: bytes | None, keep_erased: bool,
              fields: Collection[str] | None) -> dict[str, Any] | None:
    if key is None and not keep_erased:
        return None
    data: dict[str, Any] = reveal(envelope.data, envelope.subject, key, fields)
    return data


class KeyArrivals:
    """The keys a service's key feed received lately, shared with its consumer runner in the
    same process. The feed remembers each key here as soon as it is read, before it is stored:
    a batch holding an event that overtook its lead's key (the key travels on another topic)
    goes on at once, and the runner looks up in the database only the leads not found here
    (older leads, or keys another replica's feed took). One per running service.

    Filled only by the key feed, never by database reads, so an erasure (which reaches a
    consuming service only through the feed) is seen here no later than in the table."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._stored = asyncio.Event()
        self._capacity = capacity  # bounded: the oldest arrivals are forgotten first
        self._keys: dict[str, bytes | None] = {}
        # Keys remembered that neither the feed nor a consumer batch has stored yet: whichever
        # comes first stores a key, so the two rarely insert the same row (and wait on each
        # other). Kept through `forget`: the feed still has to store them.
        self._unstored: dict[str, bytes] = {}

    def remember(self, records: Iterable[tuple[str, bytes | None]]) -> None:
        """Take key records (None: erased) in their log order and wake every waiter. A lead's
        key never changes and an erased lead's key never comes back, as in the table."""
        for lead_id, key in records:
            if key is None:
                self._keys.pop(lead_id, None)
                self._keys[lead_id] = None
                self._unstored.pop(lead_id, None)
            elif lead_id not in self._keys:
                self._keys[lead_id] = self._unstored[lead_id] = key
        for _ in range(len(self._keys) - self._capacity):
            del self._keys[next(iter(self._keys))]
        self.stored()

    def recall(self, lead_ids: Iterable[str]) -> dict[str, bytes | None]:
        """The remembered keys (None: erased) of those of these leads this feed has seen."""
        keys = self._keys
        return {lead_id: keys[lead_id] for lead_id in lead_ids if lead_id in keys}

    def unstored(self, lead_ids: Iterable[str]) -> dict[str, bytes]:
        """Those of these leads' keys that are not known to be in the table yet."""
        pending = self._unstored
        return {lead_id: pending[lead_id] for lead_id in lead_ids if lead_id in pending}

    def already_stored(self, lead_ids: Iterable[str]) -> set[str]:
        """Those of these leads whose remembered key some transaction has stored."""
        return {lead_id for lead_id in lead_ids
                if self._keys.get(lead_id) is not None and lead_id not in self._unstored}

    def now_stored(self, lead_ids: Iterable[str]) -> None:
        """These keys are in the table (a transaction storing them committed)."""
        for lead_id in lead_ids:
            self._unstored.pop(lead_id, None)

    def forget(self) -> None:
        """Drop every remembered key (the feed's partitions changed)."""
        self._keys.clear()

    def stored(self) -> None:
        """Wake every waiter; later waiters wait for the next arrival."""
        self._stored.set()
        self._stored = asyncio.Event()

    def next_arrival(self) -> asyncio.Event:
        """What the next arrival sets. Take it before looking keys up and wait on it after:
        a key that comes in while the lookup awaits the database has then already set it,
        where an event taken after the lookup would sleep through that arrival."""
        return self._stored

    @staticmethod
    async def wait(arrival: asyncio.Event, timeout_s: float) -> None:
        """Until `arrival` (from `next_arrival`) is set or `timeout_s`, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrival.wait(), timeout_s)


def reveal_event(envelope: CloudEvent, keys: dict[str, bytes | None],
                 keep_erased: bool = False, fields: Collection[str] | None = None
                 ) -> dict[str, Any] | None:
    """The event's data with personal fields decrypted (only those named `fields`, when
    given: the others read as empty), with `keys` looked up beforehand (see `known_keys`; the
    consumer runner waits there for keys that have not arrived yet). None when the lead was
    erased (or, with `keep_erased`, the data with those fields emptied). KeyUnavailable when
    `keys` holds no key for the event's lead: the caller parks the event where it can be
    replayed."""
    if not has_sealed_data(envelope.data):
        return envelope.data
    if envelope.subject not in keys:
        raise KeyUnavailable(f"no data key for lead {envelope.subject}")
    return _revealed(envelope, keys[envelope.subject], keep_erased, fields)


# --- the key feed every consuming service runs ------------------------------------------------


def _parse_key_record(record: ConsumerRecord[bytes, bytes]) -> tuple[str, bytes | None] | None:
    """(lead id, key or None when erased) from a keys-topic record; None if unreadable."""
    lead_id = (record.key or b"").decode("utf-8", "replace")
    if record.value is None:  # a tombstone: the key is gone
        return (lead_id, None) if lead_id else None
    try:
        body = orjson.loads(record.value)
        lead_id = str(body.get("lead_id") or lead_id)
        if body.get("erased"):
            return lead_id, None
        return lead_id, base64.b64decode(body["data_key"])
    except (orjson.JSONDecodeError, KeyError, ValueError, AttributeError):
        log.error("unreadable record in %s at offset %s", record.topic, record.offset)
        return None


async def store_key_records(engine: AsyncEngine, records: list[tuple[str, bytes | None]]
                            ) -> None:
    """Keep received keys and apply erasures; an erased lead's key never comes back.

    The keys go in one statement with no transaction around it: its rows are locked only while
    it runs, so a consumer batch storing one of the same keys (see KeyArrivals) hardly waits,
    where a transaction's locks would last as long as the event loop's other work in between.
    Each step is idempotent, so a failure between them is repaired by applying the records
    again."""
    latest = dict(records)  # per lead, the last record wins, as in the compacted log
    keys = {i: k for i, k in latest.items() if k is not None}
    if keys:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            await _insert_keys(raw.driver_connection, keys)
    erased = sorted(i for i, k in latest.items() if k is None)
    if erased:
        async with engine.begin() as conn:
            await _forget_keys(conn, erased)


class KeysConsumer:
    """Copies the keys topic into this service's `lead_keys` table."""

    def __init__(self, *, service: str, engine: AsyncEngine, bootstrap_servers: KafkaAddress,
                 stopping: asyncio.Event, arrivals: KeyArrivals | None = None,
                 fetch_min_bytes: int = 1, fetch_max_wait_ms: int = 500,
                 flush_interval_s: float = 0.2, flush_records: int = 2_000) -> None:
        self._service = service
        self._flush_interval_s = flush_interval_s
        self._flush_records = flush_records
        # As the service's event consumer fetches: a service that waits to take events in
        # larger batches takes their keys so too (fewer fetches and wake-ups).
        self._fetch = {"fetch_min_bytes": fetch_min_bytes, "fetch_max_wait_ms": fetch_max_wait_ms}
        self._arrivals = arrivals
        self._engine = engine
        self._bootstrap_servers = bootstrap_servers
        self._stopping = stopping

    async def run(self) -> None:
        """Consume until the service stops; after a failure, start over from the committed
        offsets (records are idempotent to apply again)."""
        backoff = Backoff(max_s=5.0)
        while not self._stopping.is_set():
            try:
                await self._consume()
                backoff.reset()
            except Exception:  # broker or database trouble: the feed must not stay down
                log.warning("keys consumer failed; restarting it", exc_info=True)
                await backoff.sleep()

    async def _consume(self) -> None:
        consumer = create_consumer(
            KEYS_TOPIC, kafka=self._bootstrap_servers,
            group_id=f"{self._service}.keys", client_id=f"{self._service}-keys",
            enable_auto_commit=False, auto_offset_reset="earliest", **self._fetch)
        await consumer.start()
        # Keys are remembered (and waiters woken) as they are read, and stored in one
        # transaction per flush interval: a lead's key is one record, so storing per fetch
        # would cost a transaction and an offset commit per new lead at a trickle.
        pending: list[tuple[str, bytes | None]] = []
        flush_at = math.inf
        try:
            assigned: set[Any] = set()
            while not self._stopping.is_set():
                if consumer.assignment() != assigned:
                    # Another replica may now hold partitions this one remembered keys of,
                    # and only it reads their erasures: forget them (the table still has them).
                    assigned = set(consumer.assignment())
                    if self._arrivals is not None:
                        self._arrivals.forget()
                wait_ms = 500 if not pending else max(0, (flush_at - time.monotonic()) * 1000)
                batches = await consumer.getmany(timeout_ms=int(min(500, wait_ms)))
                parsed = [p for p in (_parse_key_record(r) for rs in batches.values()
                                      for r in rs) if p is not None]
                if parsed and any(key is None for _, key in parsed):
                    # An erasure takes effect in memory at once, and is in the table before
                    # any key read with it can be used: an erased lead's events are never
                    # handled again, and once a later lead's are, the erased key is gone.
                    if self._arrivals is not None:
                        self._arrivals.remember([(i, k) for i, k in parsed if k is None])
                    await self._store(pending + parsed)
                    pending, flush_at = [], math.inf
                    await self._commit(consumer)
                    if self._arrivals is not None:
                        self._arrivals.remember(parsed)
                        self._arrivals.now_stored(lead_id for lead_id, _ in parsed)
                elif parsed:
                    if self._arrivals is not None:
                        self._arrivals.remember(parsed)
                    if not pending:
                        flush_at = time.monotonic() + self._flush_interval_s
                    pending.extend(parsed)
                elif batches and not pending:
                    await self._commit(consumer)  # only unreadable records: move past them
                if pending and (time.monotonic() >= flush_at
                                or len(pending) >= self._flush_records):
                    await self._store(pending)
                    pending, flush_at = [], math.inf
                    await self._commit(consumer)
            if pending:
                await self._store(pending)
                await self._commit(consumer)
        finally:
            await consumer.stop()

    @staticmethod
    async def _commit(consumer: Any) -> None:
        try:
            await consumer.commit()
        except (CommitFailedError, KafkaError):
            log.warning("keys offset commit failed; records will be re-applied")

    async def _store(self, parsed: list[tuple[str, bytes | None]]) -> None:
        if self._arrivals is not None:  # keys a consumer batch stored already are skipped
            stored = self._arrivals.already_stored(lead_id for lead_id, _ in parsed)
            parsed = [(i, k) for i, k in parsed if k is None or i not in stored]
        backoff = Backoff(max_s=5.0)
        while True:
            try:
                await store_key_records(self._engine, parsed)
                if self._arrivals is not None:
                    self._arrivals.now_stored(lead_id for lead_id, _ in parsed)
                return
            except Exception as exc:
                if not is_transient(exc) or self._stopping.is_set():
                    raise
                log.warning("database unavailable; retrying key records", exc_info=True)
                await backoff.sleep()
