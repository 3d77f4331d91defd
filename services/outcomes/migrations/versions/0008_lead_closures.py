"""Leads closed as not converted: the closures, and the funnel's side exit for them.

Revision ID: 0008_lead_closures
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_lead_closures"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_closures",
        sa.Column("lead_id", sa.UUID(as_uuid=True), primary_key=True),
        sa.Column("closure_id", sa.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.add_column("funnel_leads", sa.Column("not_converted_at", sa.DateTime(timezone=True)))
    op.add_column("funnel_leads", sa.Column("not_converted_reason", sa.Text))


def downgrade() -> None:
    op.drop_column("funnel_leads", "not_converted_reason")
    op.drop_column("funnel_leads", "not_converted_at")
    op.drop_table("lead_closures")
