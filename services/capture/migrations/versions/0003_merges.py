"""Lead merges: a duplicate points at the lead it was merged into; merges can be undone.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("merged_into", UUID(as_uuid=True), nullable=True))
    op.create_table(
        "merges",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("survivor_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("absorbed_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("survivor_before", JSONB, nullable=False),
        sa.Column("moved_activity_ids", JSONB, nullable=False),
        sa.Column("moved_visitor_ids", JSONB, nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("merges")
    op.drop_column("leads", "merged_into")
