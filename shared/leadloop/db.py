"""Database engine and the unit of work: one transaction, rolled back unless committed."""

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self, cast

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from leadloop.connections import DatabaseTls
from leadloop.driver import driver_in_transaction
from leadloop.events import CloudEvent, EventData, event_type_of
from leadloop.events.envelope import new_traceparent
from leadloop.keyring import seal_events
from leadloop.observability import current_traceparent
from leadloop.outbox import NOTIFY_STATEMENT, outbox_rows_for, relay_runs_here, wake_relays
from leadloop.tracing import trace_database


def create_engine(database_url: str, pool_size: int = 10, tls: DatabaseTls | None = None
                  ) -> AsyncEngine:
    """An asyncpg engine.

    No pre-ping: it would cost a round trip on every checkout. After a database restart the first
    statement on a stale connection fails as a disconnect, SQLAlchemy then invalidates the whole
    pool, and that one failure is transient like any other (consumers retry, HTTP answers 503).
    """
    engine = create_async_engine(
        database_url, pool_size=pool_size, max_overflow=pool_size,
        # An error's message must not carry the statement's parameters (personal data) into
        # logs that outlive an erasure.
        hide_parameters=True,
        json_serializer=lambda value: orjson.dumps(value).decode(),
        json_deserializer=orjson.loads,
        connect_args=(tls or DatabaseTls()).connect_args(),
    )
    trace_database(engine)  # statement spans, when tracing is on
    return engine


class UnitOfWork:
    """One database transaction and the events it causes.

    Events added with `publish` are written to the outbox inside the same transaction, so the
    state change and its notification are stored together or not at all. Leaving the block
    without `commit()` rolls everything back.
    """

    def __init__(self, engine: AsyncEngine, source: str) -> None:
        self._engine = engine
        self._source = source
        self._connection: AsyncConnection | None = None
        self._pending: list[CloudEvent] = []
        self.committed = False
        self._after_commit: list[Callable[[], None]] = []
        self.causes: dict[str, str] = {}
        """Per lead id, the traceparent of the consumed event being applied (set by the
        consumer runner): what an event published about that lead continues."""
        self.keys_read: dict[str, bytes | None] = {}
        """Leads' keys (None: erased) this transaction read already (set by the consumer
        runner with its inbox rows): sealing at commit looks up only the others."""

    @property
    def connection(self) -> AsyncConnection:
        """The open connection; queries run on it inside the transaction."""
        if self._connection is None:
            raise RuntimeError("unit of work is not open")
        return self._connection

    async def driver(self) -> asyncpg.Connection:
        """The transaction's asyncpg connection, for hot statements written as SQL text
        (see leadloop.driver)."""
        return await driver_in_transaction(self.connection)

    async def __aenter__(self) -> Self:
        self._connection = await self._engine.connect()
        await self._connection.begin()
        self._pending = []
        self._after_commit = []
        self.causes = {}
        self.keys_read = {}
        self.committed = False
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        try:
            if self._connection.in_transaction():
                await self._connection.rollback()
        finally:
            await self._connection.close()
            self._connection = None

    def publish(self, event: EventData, lead_id: str | None = None) -> CloudEvent:
        """Record `event` for the outbox; it reaches Kafka only if this unit of work commits."""
        cloud_event = self.envelope(event, lead_id)
        self._pending.append(cloud_event)
        return cloud_event

    def envelope(self, event: EventData, lead_id: str | None = None) -> CloudEvent:
        """The CloudEvent `publish` would record for `event`, not recorded yet: for a caller
        that writes the envelope's id or JSON in the statement that decides whether the event
        happens at all, and then records it with `publish_envelopes`."""
        # Every lead event has a lead_id; the few others name their subject explicitly.
        subject = lead_id or str(cast(Any, event).lead_id)
        return CloudEvent(
            type=event_type_of(event),
            source=self._source,
            subject=subject,
            data=event.model_dump(mode="json"),
            # The span doing this work is the parent of whatever handles the event: in a
            # consumed batch the span of this lead's event, in a request the request's.
            traceparent=self.causes.get(subject) or current_traceparent() or new_traceparent(),
        )

    def publish_envelopes(self, envelopes: Sequence[CloudEvent]) -> None:
        """Record envelopes made by `envelope` for the outbox, as `publish` records its own."""
        self._pending.extend(envelopes)

    def publish_validated(self, event_type: str, subject: str, data: dict[str, Any]) -> None:
        """Record an event whose `data` is already the JSON of its model (bulk paths that build
        it from stored rows, e.g. a CSV import's lead.created). It goes the same way as
        `publish`: personal fields sealed, written to the outbox at commit."""
        self._pending.append(CloudEvent(
            type=event_type, source=self._source, subject=subject, data=data,
            traceparent=self.causes.get(subject) or current_traceparent() or new_traceparent()))

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of the transaction that can fail alone (a SAVEPOINT): when the block raises,
        its statements are rolled back to the savepoint and the events it published and the
        callbacks it registered are dropped with them, so none reaches the outbox; the rest of
        the transaction stays, and the exception goes on to the caller."""
        published, callbacks = len(self._pending), len(self._after_commit)
        try:
            async with self.connection.begin_nested():
                yield
        except BaseException:
            del self._pending[published:]
            del self._after_commit[callbacks:]
            raise

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this unit of work has committed (never if it rolls back):
        for effects outside the database, such as metrics, that a retried batch must not
        repeat."""
        self._after_commit.append(callback)

    async def commit(self) -> None:
        """Write pending events to the outbox (personal fields encrypted), commit, and wake
        the relay that publishes them."""
        written = False
        if self._pending:
            driver = await self.driver()
            events = await seal_events(driver, self._pending, self._source, self.keys_read)
            if events:
                await outbox_rows_for(driver, events)
                written = True
                if not relay_runs_here(self._engine):  # wake another process's relay
                    await driver.execute(NOTIFY_STATEMENT)
            self._pending = []
        await self.connection.commit()
        self.committed = True
        if written:
            wake_relays(self._engine)
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
