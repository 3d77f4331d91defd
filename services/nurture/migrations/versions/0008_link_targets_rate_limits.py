"""Messages keep their tracked links' targets (a click names one by number, never a URL), and
the public routes count requests per client IP.

Revision ID: 0008_link_targets_rate_limits
Revises: 0007_pending_entries
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008_link_targets_rate_limits"
down_revision = "0007_pending_entries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Messages sent before keep no targets: their old `/c?u=...` links are refused.
    op.add_column("messages", sa.Column("links", JSONB, nullable=False,
                                        server_default=sa.text("'[]'::jsonb")))
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_windows")
    op.drop_column("messages", "links")
