"""Sending: the lead's contact copy, sequence settings, step timers, messages, engagements.

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

_TS = sa.DateTime(timezone=True)
LEAD_COLUMNS = [
    ("replied_at", _TS), ("unsubscribed_at", _TS), ("deal_closed_at", _TS), ("bounced_at", _TS),
    ("merged_at", _TS),
    ("email", sa.Text), ("first_name", sa.Text), ("last_name", sa.Text), ("company", sa.Text),
    ("phone", sa.Text), ("time_zone", sa.Text), ("consent_at", _TS), ("profile_at", _TS),
    ("score", sa.Integer),
    ("scored_at", _TS),
]


def upgrade() -> None:
    for name, type_ in LEAD_COLUMNS:
        op.add_column("lead_states", sa.Column(name, type_))
    op.add_column("lead_states", sa.Column("email_consent", sa.Boolean, nullable=False,
                                           server_default=sa.text("false")))
    op.add_column("lead_states", sa.Column("attributes", JSONB, nullable=False,
                                           server_default=sa.text("'{}'::jsonb")))
    op.add_column("sequences", sa.Column("settings", JSONB, nullable=False,
                                         server_default=sa.text("'{}'::jsonb")))
    op.add_column("enrollments", sa.Column("step_started_at", _TS))
    op.add_column("enrollments", sa.Column("last_sent_at", _TS))
    op.execute("UPDATE enrollments SET step_started_at = enrolled_at")
    op.create_table(
        "messages",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("enrollment_id", UUID(as_uuid=True), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("sequence_key", sa.Text, nullable=False),
        sa.Column("sequence_version", sa.Integer, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("sent_at", _TS, nullable=False),
    )
    op.create_index("messages_once_per_step", "messages", ["enrollment_id", "step"], unique=True)
    op.create_index("messages_by_lead", "messages", ["lead_id", "sent_at"])
    op.create_table(
        "engagements",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("message_id", UUID(as_uuid=True)),
        sa.Column("occurred_at", _TS, nullable=False),
    )
    op.create_index("engagements_by_lead", "engagements", ["lead_id", "occurred_at"])


def downgrade() -> None:
    op.drop_table("engagements")
    op.drop_table("messages")
    op.drop_column("enrollments", "last_sent_at")
    op.drop_column("enrollments", "step_started_at")
    op.drop_column("sequences", "settings")
    for name in ["attributes", "email_consent", *(n for n, _ in LEAD_COLUMNS)]:
        op.drop_column("lead_states", name)
