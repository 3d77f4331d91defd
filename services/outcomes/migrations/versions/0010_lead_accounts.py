"""Each lead's account (company domain) in the funnel read model, for the account rollups.

Revision ID: 0010_lead_accounts
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_lead_accounts"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled by the handlers from here on; a read-model rebuild (POST /v1/read-model/rebuild)
    # fills them for the leads seen before.
    op.add_column("funnel_leads", sa.Column("account", sa.Text))
    op.add_column("funnel_leads", sa.Column("handed_off_account", sa.Text))


def downgrade() -> None:
    op.drop_column("funnel_leads", "handed_off_account")
    op.drop_column("funnel_leads", "account")
