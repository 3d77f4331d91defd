"""Tables every service database has: the outbox, the processed-events inbox and the lead keys."""

from alembic.operations import Operations
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.engine import Connection

infra_metadata = MetaData()

outbox = Table(
    "outbox",
    infra_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("traceparent", Text, nullable=False),
    # The record value exactly as it goes to Kafka (JSON bytes): no re-serialization on relay.
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    # Only unsent rows are claimed; keeping that index small keeps claims cheap.
    Index("outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),
)

processed_events = Table(
    "processed_events",
    infra_metadata,
    Column("consumer", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Per-lead data keys (see leadloop.pii). Capture issues them; every other service keeps a copy
# fed from the keys topic. Erasure sets `data_key` to NULL and `erased_at`: the key is gone, and
# the row says so, which tells "erased" (skip the event) from "not arrived yet" (wait for it).
# Its own metadata: services created it in a later migration than the outbox and inbox.
keyring_metadata = MetaData()

lead_keys = Table(
    "lead_keys",
    keyring_metadata,
    Column("lead_id", Text, primary_key=True),
    Column("data_key", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("erased_at", DateTime(timezone=True)),
)

# Until 2026-12: a trigger sent a NOTIFY on every insert into the outbox. Each service's
# migration "outbox_wakes_in_process" drops it (see leadloop.outbox: NOTIFY serialises commits);
# its downgrade puts it back.
_NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION leadloop_outbox_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('leadloop_outbox', '');
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
_NOTIFY_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
FOR EACH STATEMENT EXECUTE FUNCTION leadloop_outbox_notify()
"""


def create_infra_schema(connection: Connection) -> None:
    """Create the outbox and the inbox on a synchronous connection."""
    infra_metadata.create_all(connection)
    keyring_metadata.create_all(connection)


def drop_outbox_notify_trigger(op: Operations) -> None:
    """The upgrade of each service's "outbox_wakes_in_process" migration."""
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS leadloop_outbox_notify()")


def restore_outbox_notify_trigger(op: Operations) -> None:
    """Its downgrade: the trigger as it was."""
    op.execute(_NOTIFY_FUNCTION)
    op.execute(_NOTIFY_TRIGGER)


def create_infra_tables(op: Operations) -> None:
    """`create_infra_schema` inside a service's first Alembic migration."""
    create_infra_schema(op.get_bind())


def create_lead_keys_table(op: Operations) -> None:
    """Add `lead_keys` in a service's migration (no-op where the first migration made it)."""
    keyring_metadata.create_all(op.get_bind(), checkfirst=True)


def drop_lead_keys_table(op: Operations) -> None:
    """Undo `create_lead_keys_table`."""
    keyring_metadata.drop_all(op.get_bind(), checkfirst=True)


def drop_infra_tables(op: Operations) -> None:
    """Undo `create_infra_tables`."""
    drop_outbox_notify_trigger(op)
    infra_metadata.drop_all(op.get_bind())
