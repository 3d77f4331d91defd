"""The outbox loses its NOTIFY trigger: the committing process wakes its relay itself
(leadloop.outbox), because PostgreSQL serialises the commits of all transactions that NOTIFY.

Revision ID: 0011_outbox_wakes_in_process
Revises: 0010_deal_opened_exit
"""

from alembic import op

from leadloop.infra_tables import drop_outbox_notify_trigger, restore_outbox_notify_trigger

revision = "0011_outbox_wakes_in_process"
down_revision = "0010_deal_opened_exit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_outbox_notify_trigger(op)


def downgrade() -> None:
    restore_outbox_notify_trigger(op)
