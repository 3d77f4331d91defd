"""A version on each lead that takes a new value whenever its activities change, so a
consumer can keep a lead's recent activities in memory between batches and tell when another
writer changed them.

Revision ID: 0009_activities_version
Revises: 0008_outbox_hot_path
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_activities_version"
down_revision = "0008_outbox_hot_path"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("activities_version", sa.BigInteger, nullable=False,
                                     server_default=sa.text("0")))


def downgrade() -> None:
    op.drop_column("leads", "activities_version")
