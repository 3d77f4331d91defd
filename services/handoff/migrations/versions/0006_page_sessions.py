"""Sales page sessions: signed, expiring, ended at sign-out or when the key is revoked.

Revision ID: 0006_page_sessions
Revises: 0005_sales_workspace
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_page_sessions"
down_revision = "0005_sales_workspace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "page_sessions",
        sa.Column("id", sa.UUID(as_uuid=True), primary_key=True),
        sa.Column("key_sha256", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("page_sessions_expiry", "page_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("page_sessions")
