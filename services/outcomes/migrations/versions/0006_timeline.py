"""Lead timelines: every event about a lead, in time order, for sales.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timeline_entries",
        sa.Column("entry_id", sa.Text, primary_key=True),
        sa.Column("lead_id", sa.UUID(as_uuid=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("actor", sa.Text),
        sa.Column("detail", JSONB, nullable=False),
    )
    op.create_index("timeline_entries_by_lead", "timeline_entries",
                    ["lead_id", "occurred_at", "entry_id"])


def downgrade() -> None:
    op.drop_table("timeline_entries")
