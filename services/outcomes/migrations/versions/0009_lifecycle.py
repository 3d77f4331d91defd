"""Each lead's lifecycle stage (outcomes.lifecycle).

Revision ID: 0009
Revises: 0008_lead_closures
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0009"
down_revision = "0008_lead_closures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_lifecycle",
        sa.Column("lead_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("stage", sa.Text),
        sa.Column("stage_at", sa.DateTime(timezone=True)),
        sa.Column("first_won_deal_id", UUID(as_uuid=True)),
        sa.Column("reset_at", sa.DateTime(timezone=True)),
        sa.Column("erased", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("lead_lifecycle_by_stage", "lead_lifecycle", ["stage"],
                    postgresql_where=sa.text("NOT erased"))


def downgrade() -> None:
    op.drop_table("lead_lifecycle")
