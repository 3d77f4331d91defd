"""Suppression list per address (hashed), filled from leads already unsubscribed or bounced.

Revision ID: 0006_suppressions
Revises: 0005_default_sequences
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_suppressions"
down_revision = "0005_default_sequences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("address_key", sa.Text, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("reason IN ('unsubscribed', 'bounced')", name="suppression_reason"),
    )
    # The same key as nurture.domain.address_key: hex SHA-256 of the trimmed, lower-cased address.
    op.execute("""
        INSERT INTO suppressions (address_key, reason)
        SELECT encode(sha256(convert_to(lower(trim(email)), 'UTF8')), 'hex'),
               CASE WHEN unsubscribed_at IS NOT NULL THEN 'unsubscribed' ELSE 'bounced' END
        FROM lead_states
        WHERE email IS NOT NULL AND (unsubscribed_at IS NOT NULL OR bounced_at IS NOT NULL)
        ON CONFLICT DO NOTHING
    """)


def downgrade() -> None:
    op.drop_table("suppressions")
