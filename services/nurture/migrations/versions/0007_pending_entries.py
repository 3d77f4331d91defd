"""Entry rules that fired before nurture saw the lead's profile wait in lead_states.

Revision ID: 0007_pending_entries
Revises: 0006_suppressions
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_pending_entries"
down_revision = "0006_suppressions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lead_states", sa.Column("pending_entries", JSONB, nullable=False,
                                           server_default=sa.text("'[]'::jsonb")))


def downgrade() -> None:
    op.drop_column("lead_states", "pending_entries")
