"""Score history keeps the win probability shown beside each score.

Revision ID: 0004_history_probability
Revises: 0003_lead_keys
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_history_probability"
down_revision = "0003_lead_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("score_history", sa.Column("win_probability", sa.Float()))


def downgrade() -> None:
    op.drop_column("score_history", "win_probability")
