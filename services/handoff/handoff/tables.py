"""Handoff's tables: reps, the leads it routed, assignments, round-robin cursors, erasures."""

from collections.abc import Iterable

from sqlalchemy import (
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
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from handoff.domain import HELD_BY_REP, OPEN_STATUSES, AssignmentStatus

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
    CheckConstraint("capacity >= 1", name="reps_capacity_positive"),
    CheckConstraint("weight >= 1", name="reps_weight_positive"),
    # A team's rotation order is (created_at, id): routing reads it in this order.
    Index("reps_team_rotation", "team", "created_at", "id"),
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
    CheckConstraint(_status_in(AssignmentStatus), name="assignments_status_known"),
    CheckConstraint("(rep_id IS NULL) = (status = 'queued')", name="assignments_queued_has_no_rep"),
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

# One row per routing pool (a team now; a routing rule's rep list later), locked while routing.
round_robin_cursors = Table(
    "round_robin_cursors",
    metadata,
    Column("pool", Text, primary_key=True),
    Column("credits", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Leads erased by capture: a lead.qualified that arrives after the erasure (another topic, so
# no ordering between them) must not bring the lead back.
erased_leads = Table(
    "erased_leads",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)
