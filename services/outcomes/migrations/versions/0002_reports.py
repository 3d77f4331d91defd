"""Report facts on the funnel row (first contact, rep, score), the raw touch log, closed deals.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in (
        sa.Column("first_contacted_at", sa.DateTime(timezone=True)),
        sa.Column("rep_id", UUID(as_uuid=True)),
        sa.Column("rep_name", sa.Text),
        sa.Column("rep_at", sa.DateTime(timezone=True)),
        sa.Column("score", sa.Integer),
        sa.Column("scored_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("funnel_leads", column)
    op.create_index("funnel_leads_by_rejected_at", "funnel_leads", ["rejected_at"],
                    postgresql_where=sa.text("rejected_at IS NOT NULL AND NOT erased"))
    op.create_table(
        "touches",
        sa.Column("touch_id", sa.Text, primary_key=True),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text),
        sa.Column("campaign", sa.Text),
        sa.Column("utm_source", sa.Text),
        sa.Column("utm_medium", sa.Text),
        sa.Column("utm_campaign", sa.Text),
    )
    op.create_index("touches_by_lead", "touches", ["lead_id", "occurred_at"])
    op.create_table(
        "closed_deals",
        sa.Column("deal_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("closed_deals_by_lead", "closed_deals", ["lead_id"])


def downgrade() -> None:
    op.drop_table("closed_deals")
    op.drop_table("touches")
    op.drop_index("funnel_leads_by_rejected_at", "funnel_leads")
    for name in ("scored_at", "score", "rep_at", "rep_name", "rep_id", "first_contacted_at"):
        op.drop_column("funnel_leads", name)
