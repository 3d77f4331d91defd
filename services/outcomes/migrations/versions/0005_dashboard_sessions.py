"""Dashboard sessions: signed, expiring, and ended for good at sign-out.

Revision ID: 0005
Revises: 0004_lead_keys
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004_lead_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.UUID(as_uuid=True), primary_key=True),
        sa.Column("key_name", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("dashboard_sessions_expiry", "dashboard_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("dashboard_sessions")
