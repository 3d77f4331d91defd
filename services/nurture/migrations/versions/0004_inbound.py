"""Inbound reports (replies, bounces) find leads by address: index lower(email).

Revision ID: 0004_inbound
Revises: 0003_lead_keys
"""

from alembic import op

revision = "0004_inbound"
down_revision = "0003_lead_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX lead_states_by_email ON lead_states (lower(email))")


def downgrade() -> None:
    op.execute("DROP INDEX lead_states_by_email")
