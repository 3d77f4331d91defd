"""Rep coverage and availability, versioned routing rules, durable SLA timers, webhooks.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_STATUSES = ("'accepted', 'assigned', 'converted', 'queued', 'reassigned', 'rejected'")


def _ts(name: str, nullable: bool = True, default: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


def _text_array(name: str) -> sa.Column:
    return sa.Column(name, ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'"))


def upgrade() -> None:
    op.add_column("reps", sa.Column("manager_id", UUID(as_uuid=True),
                                    sa.ForeignKey("reps.id", ondelete="SET NULL")))
    for name in ("territories", "segments", "named_accounts"):
        op.add_column("reps", _text_array(name))
    op.add_column("reps", sa.Column("working_hours", JSONB))
    op.add_column("reps", _ts("out_of_office_from"))
    op.add_column("reps", _ts("out_of_office_to"))
    op.create_index("reps_named_accounts", "reps", ["named_accounts"], postgresql_using="gin")

    op.create_table(
        "routing_rules",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("team", sa.Text, nullable=False),
        sa.Column("conditions", JSONB, nullable=False),
        sa.Column("accept_sla_s", sa.Float),
        sa.Column("respect_working_hours", sa.Boolean, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("current", sa.Boolean, nullable=False),
        _ts("created_at", nullable=False, default=True),
    )
    op.create_index("routing_rules_one_current", "routing_rules", ["id"], unique=True,
                    postgresql_where=sa.text("current"))
    op.create_index("routing_rules_in_order", "routing_rules", ["position", "created_at"],
                    postgresql_where=sa.text("current AND active"))

    op.drop_constraint("assignments_status_known", "assignments", type_="check")
    op.create_check_constraint("assignments_status_known", "assignments",
                               f"status IN ({_STATUSES})")
    op.add_column("assignments", sa.Column("rule_id", UUID(as_uuid=True)))
    op.add_column("assignments", sa.Column("rule_version", sa.Integer))
    op.add_column("assignments", sa.Column("accept_sla_s", sa.Float))
    op.add_column("assignments", sa.Column("breaches", sa.Integer, nullable=False,
                                           server_default=sa.text("0")))
    for name in ("reminded_at", "breached_at", "converted_at"):
        op.add_column("assignments", _ts(name))
    op.add_column("assignments", sa.Column("opportunity_ref", sa.Text))

    op.create_table(
        "sla_timers",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("assignment_id", UUID(as_uuid=True),
                  sa.ForeignKey("assignments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        _ts("due_at", nullable=False),
        _ts("fired_at"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("assignment_id", "kind", name="sla_timers_one_per_kind"),
    )
    op.create_index("sla_timers_due", "sla_timers", ["due_at"],
                    postgresql_where=sa.text("fired_at IS NULL"))
    op.create_table(
        "lead_arrivals",
        sa.Column("lead_id", UUID(as_uuid=True), primary_key=True),
        _ts("created_at", nullable=False),
    )

    op.create_table(
        "webhook_subscribers",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        _text_array("event_types"),
        sa.Column("secrets", JSONB, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.Text),
        _ts("created_at", nullable=False, default=True),
        _ts("updated_at", nullable=False, default=True),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("subscriber_id", UUID(as_uuid=True),
                  sa.ForeignKey("webhook_subscribers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        _ts("next_attempt_at", nullable=False),
        _ts("first_attempt_at"),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        _ts("delivered_at"),
        _ts("created_at", nullable=False, default=True),
        sa.UniqueConstraint("subscriber_id", "event_id", name="webhook_deliveries_once_per_event"),
    )
    op.create_index("webhook_deliveries_due", "webhook_deliveries", ["next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("webhook_deliveries_log", "webhook_deliveries",
                    ["subscriber_id", "created_at"])
    op.create_index("webhook_deliveries_by_lead", "webhook_deliveries", ["lead_id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Text,
                  sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        _ts("attempted_at", nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Integer, nullable=False),
    )
    op.create_index("webhook_attempts_of_delivery", "webhook_attempts",
                    ["delivery_id", "attempt"])


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscribers")
    op.drop_table("lead_arrivals")
    op.drop_table("sla_timers")
    for name in ("opportunity_ref", "converted_at", "breached_at", "reminded_at", "breaches",
                 "accept_sla_s", "rule_version", "rule_id"):
        op.drop_column("assignments", name)
    op.drop_constraint("assignments_status_known", "assignments", type_="check")
    op.create_check_constraint("assignments_status_known", "assignments",
                               "status IN ('accepted', 'assigned', 'queued', 'rejected')")
    op.drop_table("routing_rules")
    op.drop_index("reps_named_accounts", "reps")
    for name in ("out_of_office_to", "out_of_office_from", "working_hours", "named_accounts",
                 "segments", "territories", "manager_id"):
        op.drop_column("reps", name)
