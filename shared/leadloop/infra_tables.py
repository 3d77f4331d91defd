"""Tables every service database has: the outbox, the processed-events inbox and the lead keys."""

from alembic.operations import Operations
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
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
    # No sent_at: the relay deletes the rows it publishes (leadloop.outbox), so every row here
    # is still to be published, and the claim walks the primary key.
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

# Until 2026-12 the outbox kept published rows, marked `sent_at`, and a trigger sent a NOTIFY on
# every insert. Each service's migration "outbox_hot_path" takes both away (leadloop.outbox says
# why); its downgrade puts them back.
_DROP_SENT_ROWS = """
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
             AND table_name = 'outbox' AND column_name = 'sent_at') THEN
    DELETE FROM outbox WHERE sent_at IS NOT NULL;
    ALTER TABLE outbox DROP COLUMN sent_at;  -- and the index outbox_unsent with it
  END IF;
END $$"""
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


def _drop_notify_trigger(op: Operations) -> None:
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS leadloop_outbox_notify()")


def slim_outbox(op: Operations) -> None:
    """The upgrade of each service's "outbox_hot_path" migration: no NOTIFY trigger, no
    published rows (nor their `sent_at` column)."""
    _drop_notify_trigger(op)
    op.execute(_DROP_SENT_ROWS)


def restore_outbox(op: Operations) -> None:
    """Its downgrade: the column, its index and the trigger as they were."""
    op.execute("ALTER TABLE outbox ADD COLUMN IF NOT EXISTS sent_at timestamptz")
    op.execute("CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL")
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
    _drop_notify_trigger(op)
    infra_metadata.drop_all(op.get_bind())
