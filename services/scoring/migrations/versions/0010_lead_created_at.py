"""When capture created each lead (its lead.created), kept so that lead.qualified can carry it:
handoff measures speed to lead from it without waiting for lead.created itself. Leads scored
before this revision have none; handoff falls back to the arrival it recorded for them.

Revision ID: 0010_lead_created_at
Revises: 0009_activities_version
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_lead_created_at"
down_revision = "0009_activities_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("created_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("leads", "created_at")
