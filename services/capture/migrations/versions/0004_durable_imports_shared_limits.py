"""Durable imports (the uploaded CSV kept in parts, resumable), shared rate-limit counters,
and an index so old idempotency keys can be purged cheaply.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("imports", sa.Column("mapping", JSONB, nullable=False,
                                       server_default=sa.text("'{}'::jsonb")))
    op.add_column("imports", sa.Column("campaign", sa.Text, nullable=True))
    op.create_table(
        "import_parts",
        sa.Column("import_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    op.create_index("idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_index("imports_running", "imports", ["created_at"],
                    postgresql_where=sa.text("status = 'running'"))


def downgrade() -> None:
    op.drop_index("imports_running", table_name="imports")
    op.drop_index("idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("rate_limit_windows")
    op.drop_table("import_parts")
    op.drop_column("imports", "campaign")
    op.drop_column("imports", "mapping")
