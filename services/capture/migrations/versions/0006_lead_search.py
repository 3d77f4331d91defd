"""Lead search and sync: leads are listed in (updated_at, id) order, page after page.

Revision ID: 0006_lead_search
Revises: 0005_lead_keys
"""

from alembic import op

revision = "0006_lead_search"
down_revision = "0005_lead_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("leads_by_update", "leads", ["updated_at", "id"])
    op.create_index("leads_by_creation", "leads", ["created_at"])


def downgrade() -> None:
    op.drop_index("leads_by_creation", table_name="leads")
    op.drop_index("leads_by_update", table_name="leads")
