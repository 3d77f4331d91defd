"""Capture's tables: leads (keyed by normalized email), forms, submissions, activities."""

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from leadloop.ratelimit import rate_limit_windows_table

metadata = MetaData()

leads = Table(
    "leads",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("email", Text, nullable=False, unique=True),
    Column("profile", JSONB, nullable=False),
    Column("consent", JSONB, nullable=False),
    Column("source", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("merged_into", UUID(as_uuid=True)),
    # Lead search and CRM sync page through leads in (updated_at, id) order.
    Index("leads_by_update", "updated_at", "id"),
    Index("leads_by_creation", "created_at"),
)

forms = Table(
    "forms",
    metadata,
    Column("id", Text, primary_key=True),
    Column("config", JSONB, nullable=False),
    Column("public_key_sha256", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

submissions = Table(
    "submissions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("form_id", Text, nullable=False),
    Column("lead_id", UUID(as_uuid=True)),
    Column("status", Text, nullable=False),
    Column("spam_reason", Text),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_sha256", Text, nullable=False),
    Column("status_code", Integer),
    Column("response", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

visitors = Table(
    "visitors",
    metadata,
    Column("id", Text, primary_key=True),
    Column("lead_id", UUID(as_uuid=True)),
    Column("identified_at", DateTime(timezone=True)),
)

activities = Table(
    "activities",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True)),
    Column("visitor_id", Text),
    Column("kind", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("url", Text),
    Column("source", JSONB, nullable=False),
    Column("properties", JSONB, nullable=False),
)

imports = Table(
    "imports",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("status", Text, nullable=False),
    Column("rows_total", Integer, nullable=False, server_default="0"),
    Column("created", Integer, nullable=False, server_default="0"),
    Column("updated", Integer, nullable=False, server_default="0"),
    Column("unchanged", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("errors", JSONB, nullable=False, server_default="[]"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Column("mapping", JSONB, nullable=False, server_default="{}"),
    Column("campaign", Text),
)

# The uploaded CSV of an import, in parts of up to 1 MiB, kept until the import ends.
import_parts = Table(
    "import_parts",
    metadata,
    Column("import_id", UUID(as_uuid=True), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# Requests counted per rate-limit key and minute, shared by every replica.
rate_limit_windows = rate_limit_windows_table(metadata)

merges = Table(
    "merges",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("survivor_id", UUID(as_uuid=True), nullable=False),
    Column("absorbed_id", UUID(as_uuid=True), nullable=False),
    Column("survivor_before", JSONB, nullable=False),
    Column("moved_activity_ids", JSONB, nullable=False),
    Column("moved_visitor_ids", JSONB, nullable=False),
    Column("merged_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("undone_at", DateTime(timezone=True)),
)

# Double opt-in: consent a public form gave an address we already knew, waiting for the person
# to confirm it from the mail we send them (next_attempt_at: when the mail is due; NULL once
# sent or given up).
consent_confirmations = Table(
    "consent_confirmations",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("form_id", Text),
    Column("submission_id", UUID(as_uuid=True)),
    Column("consent", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("sent_at", DateTime(timezone=True)),
    Column("confirmed_at", DateTime(timezone=True)),
)

# Each lead's owner (the rep holding it) and qualification state, as scoring and handoff announce
# them (capture.sales.domain): lead search filters on them. Each half carries the time of the
# event that set it, so an older event arriving late (another topic) never overwrites a newer one.
lead_sales_states = Table(
    "lead_sales_states",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("owner_rep_id", UUID(as_uuid=True)),
    Column("owner_at", DateTime(timezone=True)),
    Column("qualification", Text),
    Column("qualification_at", DateTime(timezone=True)),
    Index("lead_sales_states_by_owner", "owner_rep_id"),
    Index("lead_sales_states_by_qualification", "qualification"),
)
