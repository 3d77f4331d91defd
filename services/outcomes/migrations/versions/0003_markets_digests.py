"""Market attributes on the funnel row (country, region, company-size band, industry, custom
properties), and the weekly digests with their durable schedule.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in (
        sa.Column("country", sa.Text),
        sa.Column("region", sa.Text),
        sa.Column("company_size_band", sa.Text),
        sa.Column("industry", sa.Text),
        sa.Column("properties", JSONB),
        sa.Column("profile_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("funnel_leads", column)
    op.create_table(
        "digests",
        sa.Column("period", sa.Text, primary_key=True),
        sa.Column("schedule", sa.Text, nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="scheduled"),
        sa.Column("content", JSONB),
        sa.Column("composed_at", sa.DateTime(timezone=True)),
        sa.Column("recipients", JSONB),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('scheduled', 'composed', 'sent', 'failed')",
                           name="digest_status"),
    )
    op.create_index("digests_due", "digests", ["schedule", "due_at"],
                    postgresql_where=sa.text("status IN ('scheduled', 'composed')"))
    op.create_index("digests_by_end", "digests", ["period_end"])


def downgrade() -> None:
    op.drop_table("digests")
    for name in ("profile_at", "properties", "industry", "company_size_band", "region",
                 "country"):
        op.drop_column("funnel_leads", name)
