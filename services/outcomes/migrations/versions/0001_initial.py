"""Deals, the funnel read model, outbox and inbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from leadloop.infra_tables import create_infra_tables, drop_infra_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Written out, not taken from outcomes.domain: a migration stays what it was when written.
STAGE_COLUMNS = ("lead_at", "mql_at", "handed_off_at", "accepted_at", "opportunity_at",
                 "won_at", "lost_at")


def upgrade() -> None:
    create_infra_tables(op)
    op.create_table(
        "deals",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("external_id", sa.Text, unique=True),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("lost_reason", sa.Text),
        sa.Column("opened_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('open', 'won', 'lost')", name="deal_status"),
        sa.CheckConstraint("amount_minor >= 0", name="deal_amount_not_negative"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="deal_currency_iso4217"),
    )
    op.create_index("deals_by_lead", "deals", ["lead_id"])
    op.create_table(
        "funnel_leads",
        sa.Column("lead_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("erased", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("anonymous", sa.Boolean, nullable=False, server_default=sa.text("false")),
        *(sa.Column(name, sa.DateTime(timezone=True)) for name in STAGE_COLUMNS),
        sa.Column("rejected_at", sa.DateTime(timezone=True)),
        sa.Column("rejection_reason", sa.Text),
        sa.Column("channel", sa.Text),
        sa.Column("campaign", sa.Text),
        sa.Column("utm_source", sa.Text),
        sa.Column("utm_medium", sa.Text),
        sa.Column("utm_campaign", sa.Text),
        sa.Column("utm_term", sa.Text),
        sa.Column("utm_content", sa.Text),
        sa.Column("form_id", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("funnel_leads_by_lead_at", "funnel_leads", ["lead_at"],
                    postgresql_where=sa.text("NOT erased"))


def downgrade() -> None:
    op.drop_table("funnel_leads")
    op.drop_table("deals")
    drop_infra_tables(op)
