"""Each lead's owner and qualification state, as scoring and handoff announce them (lead search
filters on them).

Revision ID: 0008_lead_sales_states
Revises: 0007_consent_confirmations
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0008_lead_sales_states"
down_revision = "0007_consent_confirmations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_sales_states",
        sa.Column("lead_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("owner_rep_id", UUID(as_uuid=True)),
        sa.Column("owner_at", sa.DateTime(timezone=True)),
        sa.Column("qualification", sa.Text),
        sa.Column("qualification_at", sa.DateTime(timezone=True)),
    )
    op.create_index("lead_sales_states_by_owner", "lead_sales_states", ["owner_rep_id"])
    op.create_index("lead_sales_states_by_qualification", "lead_sales_states",
                    ["qualification"])


def downgrade() -> None:
    op.drop_table("lead_sales_states")
