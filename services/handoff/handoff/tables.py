"""Handoff's tables: reps, the leads it routed, assignments, round-robin cursors, erasures."""

from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.types import Float

from handoff.assignments.domain import HELD_BY_REP, OPEN_STATUSES, AssignmentStatus
from leadloop.page_sessions import page_sessions_table

metadata = MetaData()


def _status_in(statuses: Iterable[AssignmentStatus]) -> str:
    return "status IN (" + ", ".join(f"'{s.value}'" for s in sorted(statuses)) + ")"


OPEN_STATUS_SQL = _status_in(OPEN_STATUSES)
HELD_BY_REP_SQL = _status_in(HELD_BY_REP)

reps = Table(
    "reps",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False, unique=True),
    Column("team", Text, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("manager_id", UUID(as_uuid=True), ForeignKey("reps.id", ondelete="SET NULL")),
    # Countries ("DE") or country-regions ("US-CA"); empty covers every territory.
    Column("territories", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # Company-size bands (routing.SEGMENTS); empty covers every segment.
    Column("segments", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # Email/website domains whose leads this rep owns.
    Column("named_accounts", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # {"time_zone", "start", "end", "days"}; NULL: always working.
    Column("working_hours", JSONB),
    Column("out_of_office_from", DateTime(timezone=True)),
    Column("out_of_office_to", DateTime(timezone=True)),
    CheckConstraint("capacity >= 1", name="reps_capacity_positive"),
    CheckConstraint("weight >= 1", name="reps_weight_positive"),
    # A team's rotation order is (created_at, id): routing reads it in this order.
    Index("reps_team_rotation", "team", "created_at", "id"),
    Index("reps_named_accounts", "named_accounts", postgresql_using="gin"),
)

# Routing rules, versioned: an edit adds a version and makes it current; assignments name the
# (rule, version) that routed them, so history stays explainable after the rules change.
routing_rules = Table(
    "routing_rules",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("team", Text, nullable=False),
    Column("conditions", JSONB, nullable=False),
    Column("accept_sla_s", Float),
    Column("respect_working_hours", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("current", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("routing_rules_one_current", "id", unique=True, postgresql_where=text("current")),
    Index("routing_rules_in_order", "position", "created_at",
          postgresql_where=text("current AND active")),
)

# Handoff's own copy of a qualified lead, from the latest lead.qualified it acted on: what the
# rep queue shows and what a reassignment hands to the next rep.
leads = Table(
    "leads",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("email", Text, nullable=False),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("company", Text),
    Column("score", Integer, nullable=False),
    Column("grade", Text, nullable=False),
    Column("qualified_at", DateTime(timezone=True), nullable=False),
    # The lead.qualified data (profile, consent, source, contributions, recent activities).
    Column("context", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

assignments = Table(
    "assignments",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True),
           ForeignKey("leads.lead_id", ondelete="CASCADE"), nullable=False),
    Column("rep_id", UUID(as_uuid=True), ForeignKey("reps.id")),  # NULL: fallback queue
    Column("team", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("routing_rule", Text, nullable=False),
    Column("routing_reason", Text, nullable=False),
    Column("handed_off_at", DateTime(timezone=True), nullable=False),
    Column("sla_deadline", DateTime(timezone=True)),
    Column("accepted_at", DateTime(timezone=True)),
    Column("rejected_at", DateTime(timezone=True)),
    Column("rejection_reason", Text),
    Column("rejection_note", Text),
    Column("contacted_at", DateTime(timezone=True)),
    Column("contact_channel", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("rule_id", UUID(as_uuid=True)),
    Column("rule_version", Integer),
    Column("accept_sla_s", Float),
    Column("breaches", Integer, nullable=False, server_default=text("0")),  # of the lead, before
    Column("reminded_at", DateTime(timezone=True)),
    Column("breached_at", DateTime(timezone=True)),
    Column("converted_at", DateTime(timezone=True)),
    Column("opportunity_ref", Text),
    # Who did it: the key's name (a rep-bound key names its rep), e.g. "rep:ann@acme.com".
    Column("accepted_by", Text),
    Column("rejected_by", Text),
    Column("contacted_by", Text),
    Column("assigned_by", Text),  # a manager's manual assignment; NULL: routing chose
    CheckConstraint(_status_in(AssignmentStatus), name="assignments_status_known"),
    # A lead that left the fallback queue closes its queued assignment as reassigned, no rep.
    CheckConstraint("status = 'reassigned' OR (rep_id IS NULL) = (status = 'queued')",
                    name="assignments_queued_has_no_rep"),
    # At most one open assignment per lead, whichever replica routes it.
    Index("assignments_one_open_per_lead", "lead_id", unique=True,
          postgresql_where=text(OPEN_STATUS_SQL)),
    # Rep queues and capacity counts.
    Index("assignments_held_by_rep", "rep_id", "handed_off_at",
          postgresql_where=text(HELD_BY_REP_SQL)),
    Index("assignments_by_lead", "lead_id", "handed_off_at"),
    # The SLA timer claims due rows from here (FOR UPDATE SKIP LOCKED).
    Index("assignments_awaiting_acceptance", "sla_deadline",
          postgresql_where=text(_status_in({AssignmentStatus.queued, AssignmentStatus.assigned}))),
)

# Team queues and the manager view list a team's open assignments.
Index("assignments_open_by_team", assignments.c.team, assignments.c.sla_deadline,
      postgresql_where=text(OPEN_STATUS_SQL))

# Keys bound to a rep, minted by an admin (POST /v1/reps/{id}/keys): only the SHA-256 is kept;
# a revoked key stays listed (who had it, until when) but opens nothing.
rep_keys = Table(
    "rep_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("rep_id", UUID(as_uuid=True), ForeignKey("reps.id", ondelete="CASCADE"),
           nullable=False),
    Column("name", Text, nullable=False),
    Column("sha256", Text, nullable=False, unique=True),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
    Index("rep_keys_of_rep", "rep_id", "created_at"),
)

# One row per routing pool (a team now; a routing rule's rep list later), locked while routing.
round_robin_cursors = Table(
    "round_robin_cursors",
    metadata,
    Column("pool", Text, primary_key=True),
    Column("credits", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Durable SLA timers: claimed with FOR UPDATE SKIP LOCKED, fired once (fired_at set in the
# transaction that acts on them), so they survive restarts and never fire twice.
sla_timers = Table(
    "sla_timers",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("assignment_id", UUID(as_uuid=True),
           ForeignKey("assignments.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("fired_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Column("rounds", Integer, nullable=False, server_default=text("0")),  # repeating timers
    UniqueConstraint("assignment_id", "kind", name="sla_timers_one_per_kind"),
    Index("sla_timers_due", "due_at", postgresql_where=text("fired_at IS NULL")),
)

# When capture created each lead (lead.created), for the speed-to-lead histogram.
lead_arrivals = Table(
    "lead_arrivals",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Leads erased by capture: a lead.qualified that arrives after the erasure (another topic, so
# no ordering between them) must not bring the lead back.
erased_leads = Table(
    "erased_leads",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

# --- webhooks ------------------------------------------------------------------------------

# Sales tools that receive handoff's events by HTTP. `secrets`: [{"secret", "expires_at"}],
# newest first; a rotated-out secret keeps signing until it expires, so receivers can switch.
webhook_subscribers = Table(
    "webhook_subscribers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("event_types", ARRAY(Text), nullable=False, server_default=text("'{}'")),  # {}: all
    Column("secrets", JSONB, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One message to one subscriber; `id` is the webhook-id receivers deduplicate on.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("subscriber_id", UUID(as_uuid=True),
           ForeignKey("webhook_subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("lead_id", UUID(as_uuid=True)),
    Column("body", Text, nullable=False),  # exactly the bytes signed and sent
    Column("status", Text, nullable=False),  # pending, held (while disabled), delivered, failed
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("first_attempt_at", DateTime(timezone=True)),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("subscriber_id", "event_id", name="webhook_deliveries_once_per_event"),
    Index("webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    Index("webhook_deliveries_log", "subscriber_id", "created_at"),
    Index("webhook_deliveries_by_lead", "lead_id"),
)

# Every attempt of every delivery: the delivery log.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("delivery_id", Text, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
           nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Index("webhook_attempts_of_delivery", "delivery_id", "attempt"),
)

# Sales page sign-ins: the cookie carries the id (signed, with its expiry); the row names the
# key signed in with by its hash, so revoking the key (or its rep's removal) ends the session at
# once, and signing out deletes the row (a copied cookie dies with it).
page_sessions = page_sessions_table(metadata, "page_sessions", key_column="key_sha256")

# --- customers and accounts ----------------------------------------------------------------

# Each lead's lifecycle stage as outcomes announced it (lead.stage_changed), and for a
# customer the rep who owns it: the rep who held the lead when it won its latest deal.
lead_stages = Table(
    "lead_stages",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("stage", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("owner_rep_id", UUID(as_uuid=True), ForeignKey("reps.id", ondelete="SET NULL")),
)

# Companies by email domain (leadloop.accounts): the account's owner (the rep who won its
# latest deal, unless an admin set one) and, for a domain an admin mapped onto another
# account, that account's domain.
accounts = Table(
    "accounts",
    metadata,
    Column("domain", Text, primary_key=True),
    Column("owner_rep_id", UUID(as_uuid=True), ForeignKey("reps.id", ondelete="SET NULL")),
    Column("owner_set_by", Text),  # an admin's key name; NULL: the latest won deal set it
    Column("alias_of", Text),
    Column("last_won_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("alias_of IS NULL OR alias_of <> domain", name="accounts_alias_not_self"),
)
