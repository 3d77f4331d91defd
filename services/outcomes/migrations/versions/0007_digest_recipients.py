"""Digest recipients per team, managed through the API; a digest nobody was to get is
stored as `no_recipients` (the status check did not allow it).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_recipients",
        sa.Column("team", sa.Text, primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("team IN ('marketing', 'sales')", name="digest_recipient_team"),
    )
    op.drop_constraint("digest_status", "digests", type_="check")
    op.create_check_constraint(
        "digest_status", "digests",
        "status IN ('scheduled', 'composed', 'sent', 'failed', 'no_recipients')")


def downgrade() -> None:
    op.execute("UPDATE digests SET status = 'sent' WHERE status = 'no_recipients'")
    op.drop_constraint("digest_status", "digests", type_="check")
    op.create_check_constraint("digest_status", "digests",
                               "status IN ('scheduled', 'composed', 'sent', 'failed')")
    op.drop_table("digest_recipients")
