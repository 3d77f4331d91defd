"""Sequences (with the default welcome sequence), lead states, enrollments, outbox and inbox.

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

# Written out, not imported from nurture.domain: a migration seeds what was true when it was
# written, whatever the code says later.
WELCOME_STEPS = [
    {"kind": "send_email", "template": "welcome"},
    {"kind": "wait", "days": 2, "hours": 0},
    {"kind": "send_email", "template": "case-study"},
    {"kind": "wait", "days": 3, "hours": 0},
    {"kind": "send_email", "template": "pricing-guide"},
]


def upgrade() -> None:
    create_infra_tables(op)
    sequences = op.create_table(
        "sequences",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("entry_rule", sa.Text, nullable=False),
        sa.Column("steps", JSONB, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("sequences_one_active_version", "sequences", ["key"], unique=True,
                    postgresql_where=sa.text("active"))
    op.create_table(
        "lead_states",
        sa.Column("lead_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("qualified_at", sa.DateTime(timezone=True)),
        sa.Column("handed_off_at", sa.DateTime(timezone=True)),
        sa.Column("disqualified_at", sa.DateTime(timezone=True)),
        sa.Column("rejected_at", sa.DateTime(timezone=True)),
        sa.Column("rejection_reason", sa.Text),
        sa.Column("erased_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "enrollments",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("sequence_key", sa.Text, nullable=False),
        sa.Column("sequence_version", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("current_step", sa.Integer, nullable=False),
        sa.Column("next_step_due_at", sa.DateTime(timezone=True)),
        sa.Column("exit_reason", sa.Text),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exited_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["sequence_key", "sequence_version"],
                                ["sequences.key", "sequences.version"]),
        sa.CheckConstraint("status IN ('active', 'completed', 'exited')",
                           name="enrollment_status"),
    )
    op.create_index("enrollments_by_lead", "enrollments", ["lead_id"])
    op.create_index("enrollments_one_active_per_sequence", "enrollments",
                    ["lead_id", "sequence_key"], unique=True,
                    postgresql_where=sa.text("status = 'active'"))
    op.create_index("enrollments_due", "enrollments", ["next_step_due_at"],
                    postgresql_where=sa.text("status = 'active'"))
    op.bulk_insert(sequences, [{
        "key": "welcome", "version": 1, "entry_rule": "new_unqualified_lead",
        "steps": WELCOME_STEPS, "active": True,
    }])


def downgrade() -> None:
    op.drop_table("enrollments")
    op.drop_table("lead_states")
    op.drop_table("sequences")
    drop_infra_tables(op)
