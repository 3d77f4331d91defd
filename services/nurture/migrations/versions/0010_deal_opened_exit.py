"""Lead states keep when a deal was first opened for the lead: sequences exit on deal.opened
(a customer's onboarding stops when sales opens a new deal).

Revision ID: 0010_deal_opened_exit
Revises: 0009_templates
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_deal_opened_exit"
down_revision = "0009_templates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lead_states", sa.Column("deal_opened_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("lead_states", "deal_opened_at")
