"""Nurture's tables: sequence versions, what it knows of each lead, and enrollments."""

from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from leadloop.ratelimit import rate_limit_windows_table

metadata = MetaData()


def _versions(name: str, *columns: Column[Any] | Index) -> Table:
    """A table of immutable versions by key: an edit adds the next version, none is changed
    (but a sequence's `active`) or deleted, so what ran on a version can always be read."""
    return Table(name, metadata, Column("key", Text, primary_key=True),
                 Column("version", Integer, primary_key=True), *columns,
                 Column("created_at", DateTime(timezone=True), nullable=False,
                        server_default=func.now()))


sequences = _versions(
    "sequences",
    Column("entry_rule", Text, nullable=False),
    Column("steps", JSONB, nullable=False),
    Column("active", Boolean, nullable=False),
    # Segment, entry delay, exit conditions, guard policy, webhook channels
    # (sequences.domain.Sequence).
    Column("settings", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # One live version per sequence; older versions stay so running enrollments can finish.
    Index("sequences_one_active_version", "key", unique=True, postgresql_where=text("active")),
)

def _moments(*names: str) -> list[Column[Any]]:
    """Nullable points in time, one column each."""
    return [Column(name, DateTime(timezone=True)) for name in names]


lead_states = Table(
    "lead_states",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    # When each milestone first happened (leads.domain.LeadState), not when this row was written;
    # NULL until its event arrives (created_at: lead.created, which may come after
    # lead.qualified).
    *_moments("created_at", "qualified_at", "handed_off_at", "disqualified_at", "rejected_at"),
    Column("rejection_reason", Text),
    *_moments("erased_at", "replied_at", "unsubscribed_at", "deal_closed_at", "deal_opened_at",
              "bounced_at", "merged_at"),
    # A local copy of what sending needs (lead.created / lead.updated); erasure clears it.
    Column("email", Text),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("company", Text),
    Column("phone", Text),
    Column("time_zone", Text),
    # {street, city, postal_code, region, country} for direct mail; erasure clears it.
    Column("postal_address", JSONB),
    # The rep the lead was handed to ({name, email, team}), for templates that name them.
    Column("rep", JSONB),
    Column("email_consent", Boolean, nullable=False, server_default=text("false")),
    Column("consent_at", DateTime(timezone=True)),
    Column("attributes", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("profile_at", DateTime(timezone=True)),
    Column("score", Integer),
    Column("scored_at", DateTime(timezone=True)),
    # Entry rules that fired before the profile arrived (leads.domain.LeadState.pending_entries).
    Column("pending_entries", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Replies and bounces reported by address find the lead(s) through this.
    Index("lead_states_by_email", func.lower(text("email"))),
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("sequence_key", Text, nullable=False),
    Column("sequence_version", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("current_step", Integer, nullable=False),
    Column("next_step_due_at", DateTime(timezone=True)),
    Column("exit_reason", Text),
    Column("enrolled_at", DateTime(timezone=True), nullable=False),
    Column("exited_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    # When the current step was entered: waits and branch windows count from it.
    Column("step_started_at", DateTime(timezone=True)),
    Column("last_sent_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ForeignKeyConstraint(["sequence_key", "sequence_version"],
                         ["sequences.key", "sequences.version"]),
    CheckConstraint("status IN ('active', 'completed', 'exited')", name="enrollment_status"),
    Index("enrollments_by_lead", "lead_id"),
    # A lead runs a sequence at most once at a time, however often its entry event is replayed.
    Index("enrollments_one_active_per_sequence", "lead_id", "sequence_key", unique=True,
          postgresql_where=text("status = 'active'")),
    # The step scheduler claims due enrollments through this index (FOR UPDATE SKIP LOCKED).
    Index("enrollments_due", "next_step_due_at", postgresql_where=text("status = 'active'")),
)

messages = Table(
    "messages",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("enrollment_id", UUID(as_uuid=True), nullable=False),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("sequence_key", Text, nullable=False),
    Column("sequence_version", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("channel", Text, nullable=False),
    Column("template", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("error", Text),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    # The targets of the message's tracked links; a click link names one by its position.
    Column("links", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # The idempotency key: one message per enrollment step, whatever retries or replicas do.
    Index("messages_once_per_step", "enrollment_id", "step", unique=True),
    # Frequency caps count a lead's recent messages.
    Index("messages_by_lead", "lead_id", "sent_at"),
)

engagements = Table(
    "engagements",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("url", Text),
    Column("message_id", UUID(as_uuid=True)),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Index("engagements_by_lead", "lead_id", "occurred_at"),
)

suppressions = Table(
    "suppressions",
    metadata,
    # SHA-256 of the address, trimmed and lower-cased (leads.domain.address_key): an address that
    # bounced or unsubscribed stays suppressed for every lead record that carries it, and the
    # list holds no readable address (it outlives erasure, so the person is never mailed again).
    Column("address_key", Text, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("reason IN ('unsubscribed', 'bounced')", name="suppression_reason"),
)

templates = _versions(
    "templates",
    Column("channel", Text, nullable=False),
    Column("subject", Text),
    Column("html", Text),
    # The plain-text body; NULL: written from the HTML at send time (content.plaintext).
    Column("text", Text),
    Column("description", Text),
)

# Requests to the public routes counted per client IP and minute, shared by every replica.
rate_limit_windows = rate_limit_windows_table(metadata)
