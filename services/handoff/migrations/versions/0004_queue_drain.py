"""A lead that leaves the fallback queue closes its queued assignment as `reassigned`, which
has no rep: only queued assignments must have no rep, and only held ones must have one.

Revision ID: 0004_queue_drain
Revises: 0003_lead_keys
"""

from alembic import op

revision = "0004_queue_drain"
down_revision = "0003_lead_keys"
branch_labels = None
depends_on = None

_OLD = "(rep_id IS NULL) = (status = 'queued')"
_NEW = "status = 'reassigned' OR (rep_id IS NULL) = (status = 'queued')"


def upgrade() -> None:
    op.drop_constraint("assignments_queued_has_no_rep", "assignments", type_="check")
    op.create_check_constraint("assignments_queued_has_no_rep", "assignments", _NEW)


def downgrade() -> None:
    # Queue-drained assignments would break the old rule; give them no other shape than gone.
    op.execute("DELETE FROM assignments WHERE status = 'reassigned' AND rep_id IS NULL")
    op.drop_constraint("assignments_queued_has_no_rep", "assignments", type_="check")
    op.create_check_constraint("assignments_queued_has_no_rep", "assignments", _OLD)
