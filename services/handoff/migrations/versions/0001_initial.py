"""Reps, leads, assignments, round-robin cursors, erased leads, outbox and inbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from leadloop.infra_tables import create_infra_tables, drop_infra_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_OPEN = "status IN ('accepted', 'assigned', 'queued')"
_HELD_BY_REP = "status IN ('accepted', 'assigned')"
_AWAITING_ACCEPTANCE = "status IN ('assigned', 'queued')"


def _timestamp(name: str, nullable: bool = False, default: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


def upgrade() -> None:
    create_infra_tables(op)
    op.create_table(
        "reps",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False, unique=True),
        sa.Column("team", sa.Text, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        _timestamp("created_at", default=True),
        _timestamp("updated_at", default=True),
        sa.CheckConstraint("capacity >= 1", name="reps_capacity_positive"),
        sa.CheckConstraint("weight >= 1", name="reps_weight_positive"),
    )
    op.create_index("reps_team_rotation", "reps", ["team", "created_at", "id"])
    op.create_table(
        "leads",
        sa.Column("lead_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("first_name", sa.Text),
        sa.Column("last_name", sa.Text),
        sa.Column("company", sa.Text),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("grade", sa.Text, nullable=False),
        _timestamp("qualified_at"),
        sa.Column("context", JSONB, nullable=False),
        _timestamp("updated_at", default=True),
    )
    op.create_table(
        "assignments",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("lead_id", UUID(as_uuid=True),
                  sa.ForeignKey("leads.lead_id", ondelete="CASCADE"), nullable=False),
        sa.Column("rep_id", UUID(as_uuid=True), sa.ForeignKey("reps.id")),
        sa.Column("team", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("routing_rule", sa.Text, nullable=False),
        sa.Column("routing_reason", sa.Text, nullable=False),
        _timestamp("handed_off_at"),
        _timestamp("sla_deadline", nullable=True),
        _timestamp("accepted_at", nullable=True),
        _timestamp("rejected_at", nullable=True),
        sa.Column("rejection_reason", sa.Text),
        sa.Column("rejection_note", sa.Text),
        _timestamp("contacted_at", nullable=True),
        sa.Column("contact_channel", sa.Text),
        _timestamp("updated_at", default=True),
        sa.CheckConstraint("status IN ('accepted', 'assigned', 'queued', 'rejected')",
                           name="assignments_status_known"),
        sa.CheckConstraint("(rep_id IS NULL) = (status = 'queued')",
                           name="assignments_queued_has_no_rep"),
    )
    op.create_index("assignments_one_open_per_lead", "assignments", ["lead_id"], unique=True,
                    postgresql_where=sa.text(_OPEN))
    op.create_index("assignments_held_by_rep", "assignments", ["rep_id", "handed_off_at"],
                    postgresql_where=sa.text(_HELD_BY_REP))
    op.create_index("assignments_by_lead", "assignments", ["lead_id", "handed_off_at"])
    op.create_index("assignments_awaiting_acceptance", "assignments", ["sla_deadline"],
                    postgresql_where=sa.text(_AWAITING_ACCEPTANCE))
    op.create_table(
        "round_robin_cursors",
        sa.Column("pool", sa.Text, primary_key=True),
        sa.Column("credits", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        _timestamp("updated_at", default=True),
    )
    op.create_table(
        "erased_leads",
        sa.Column("lead_id", UUID(as_uuid=True), primary_key=True),
        _timestamp("erased_at"),
    )


def downgrade() -> None:
    op.drop_table("erased_leads")
    op.drop_table("round_robin_cursors")
    op.drop_table("assignments")
    op.drop_table("leads")
    op.drop_table("reps")
    drop_infra_tables(op)
