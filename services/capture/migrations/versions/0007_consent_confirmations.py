"""Consent confirmations (double opt-in for consent a public form gives a known address).

Revision ID: 0007_consent_confirmations
Revises: 0006_lead_search
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0007_consent_confirmations"
down_revision = "0006_lead_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_confirmations",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("form_id", sa.Text),
        sa.Column("submission_id", UUID(as_uuid=True)),
        sa.Column("consent", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("consent_confirmations_by_lead", "consent_confirmations",
                    ["lead_id", "created_at"])
    # The mail worker's queue: rows still to send, by when they are due.
    op.create_index("consent_confirmations_to_send", "consent_confirmations",
                    ["next_attempt_at"], postgresql_where=sa.text("next_attempt_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_table("consent_confirmations")
