"""Customers and accounts: each lead's lifecycle stage and owner, accounts by email domain.

Revision ID: 0007_customers_accounts
Revises: 0006_page_sessions
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_customers_accounts"
down_revision = "0006_page_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_stages",
        sa.Column("lead_id", sa.UUID(as_uuid=True), primary_key=True),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner_rep_id", sa.UUID(as_uuid=True),
                  sa.ForeignKey("reps.id", ondelete="SET NULL")),
    )
    op.create_table(
        "accounts",
        sa.Column("domain", sa.Text, primary_key=True),
        sa.Column("owner_rep_id", sa.UUID(as_uuid=True),
                  sa.ForeignKey("reps.id", ondelete="SET NULL")),
        sa.Column("owner_set_by", sa.Text),
        sa.Column("alias_of", sa.Text),
        sa.Column("last_won_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("alias_of IS NULL OR alias_of <> domain",
                           name="accounts_alias_not_self"),
    )


def downgrade() -> None:
    op.drop_table("accounts")
    op.drop_table("lead_stages")
