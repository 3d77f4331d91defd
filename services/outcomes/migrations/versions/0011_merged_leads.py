"""Which lead each lead was merged into (lead.merged, undone by lead.unmerged), so the reports
count a merged duplicate once, as part of its survivor.

Revision ID: 0011_merged_leads
Revises: 0010_lead_accounts
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0011_merged_leads"
down_revision = "0010_lead_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled by the handlers from here on; a read-model rebuild (POST /v1/read-model/rebuild)
    # fills them for the merges made before.
    op.add_column("funnel_leads", sa.Column("merged_into", UUID(as_uuid=True)))
    op.add_column("funnel_leads", sa.Column("merge_state_at", sa.DateTime(timezone=True)))
    op.create_index("funnel_leads_merged", "funnel_leads", ["merged_into"],
                    postgresql_where=sa.text("merged_into IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("funnel_leads_merged", table_name="funnel_leads")
    op.drop_column("funnel_leads", "merge_state_at")
    op.drop_column("funnel_leads", "merged_into")
