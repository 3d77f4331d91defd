"""The outbox's hot path: no NOTIFY trigger (the committing process wakes its relay itself, as
PostgreSQL serialises the commits of all NOTIFYing transactions), and no published rows (the
relay deletes what it publishes; `sent_at` goes). See leadloop.outbox.

Revision ID: 0009_outbox_hot_path
Revises: 0008_lead_sales_states
"""

from alembic import op

from leadloop.infra_tables import restore_outbox, slim_outbox

revision = "0009_outbox_hot_path"
down_revision = "0008_lead_sales_states"
branch_labels = None
depends_on = None


def upgrade() -> None:
    slim_outbox(op)


def downgrade() -> None:
    restore_outbox(op)
