"""Learned models per version, re-score jobs, win probability, seconds on page, merges.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("win_probability", sa.Float))
    op.add_column("lead_activities", sa.Column("seconds", sa.Float))
    op.add_column("leads", sa.Column("merged_into", UUID(as_uuid=True)))
    op.add_column("lead_activities", sa.Column("origin_lead_id", UUID(as_uuid=True)))
    op.create_table(
        "model_trainings",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("deals", sa.Integer, nullable=False),
        sa.Column("model", JSONB, nullable=False),
        sa.Column("evaluation", JSONB, nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("model_trainings_by_version", "model_trainings", ["model_version", "id"])
    op.create_table(
        "rescore_jobs",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'running'")),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("cursor", UUID(as_uuid=True)),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("rescore_jobs_running", "rescore_jobs", ["id"],
                    postgresql_where=sa.text("status = 'running'"))


def downgrade() -> None:
    op.drop_table("rescore_jobs")
    op.drop_table("model_trainings")
    op.drop_column("lead_activities", "origin_lead_id")
    op.drop_column("leads", "merged_into")
    op.drop_column("lead_activities", "seconds")
    op.drop_column("leads", "win_probability")
