"""Per-lead data keys for personal fields in events (crypto-shredding, see leadloop.pii).

Revision ID: 0004_lead_keys
Revises: 0003
"""

from alembic import op

from leadloop.infra_tables import create_lead_keys_table, drop_lead_keys_table

revision = "0004_lead_keys"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_lead_keys_table(op)


def downgrade() -> None:
    drop_lead_keys_table(op)
