"""Tables every service database has: the outbox and the processed-events inbox."""

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

_NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION leadloop_outbox_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('leadloop_outbox', '');
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
# One NOTIFY per inserting statement (not per row): the relay only needs to wake up.
_NOTIFY_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
FOR EACH STATEMENT EXECUTE FUNCTION leadloop_outbox_notify()
"""


def create_infra_schema(connection: Connection) -> None:
    """Create the outbox (with its NOTIFY trigger) and the inbox on a synchronous connection."""
    infra_metadata.create_all(connection)
    connection.exec_driver_sql(_NOTIFY_FUNCTION)
    connection.exec_driver_sql(_NOTIFY_TRIGGER)


def create_infra_tables(op: Operations) -> None:
    """`create_infra_schema` inside a service's first Alembic migration."""
    create_infra_schema(op.get_bind())


def drop_infra_tables(op: Operations) -> None:
    """Undo `create_infra_tables`."""
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS leadloop_outbox_notify()")
    infra_metadata.drop_all(op.get_bind())
