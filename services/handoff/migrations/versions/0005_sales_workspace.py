"""Sales workspace: keys bound to reps, who did each sales action, manual assignments, a team
index for team queues, and repeating timers (fallback queue alerts).

Revision ID: 0005_sales_workspace
Revises: 0004_queue_drain
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "0005_sales_workspace"
down_revision = "0004_queue_drain"
branch_labels = None
depends_on = None

_ACTORS = ("accepted_by", "rejected_by", "contacted_by", "assigned_by")
_OPEN = "status IN ('accepted', 'assigned', 'queued')"


def upgrade() -> None:
    for column in _ACTORS:
        op.add_column("assignments", sa.Column(column, sa.Text()))
    op.create_index("assignments_open_by_team", "assignments", ["team", "sla_deadline"],
                    postgresql_where=sa.text(_OPEN))
    op.create_table(
        "rep_keys",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("rep_id", UUID(as_uuid=True), sa.ForeignKey("reps.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False, unique=True),
        sa.Column("scopes", ARRAY(sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("rep_keys_of_rep", "rep_keys", ["rep_id", "created_at"])
    # Queue alerts repeat: the round a repeating timer is in.
    op.add_column("sla_timers", sa.Column("rounds", sa.Integer(), nullable=False,
                                          server_default=sa.text("0")))


def downgrade() -> None:
    op.drop_column("sla_timers", "rounds")
    op.drop_table("rep_keys")
    op.drop_index("assignments_open_by_team", table_name="assignments")
    for column in _ACTORS:
        op.drop_column("assignments", column)
