"""Default sequences for the other entry rules, so they work out of the box: recycle (a lead
sales rejected), onboarding (a deal won) and re-engage (a deal lost, after 90 days).

A key someone already created is left alone.

Revision ID: 0005_default_sequences
Revises: 0004_inbound
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0005_default_sequences"
down_revision = "0004_inbound"
branch_labels = None
depends_on = None

# Written out, not imported from nurture.domain: a migration seeds what was true when it was
# written, whatever the code says later. Settings not given take domain.Sequence's defaults
# (everyone, all exit conditions, 1 a day / 3 a week, quiet hours 21:00-08:00).
DEFAULT_SEQUENCES = [
    {"key": "recycle", "entry_rule": "lead_rejected", "settings": {"entry_delay_days": 3},
     "steps": [{"kind": "send_email", "template": "recycle-checkin"},
               {"kind": "wait", "days": 14, "hours": 0},
               {"kind": "send_email", "template": "case-study"}]},
    {"key": "onboarding", "entry_rule": "deal_won", "settings": {},
     "steps": [{"kind": "send_email", "template": "onboarding-welcome"},
               {"kind": "wait", "days": 7, "hours": 0},
               {"kind": "send_email", "template": "onboarding-tips"}]},
    {"key": "re-engage", "entry_rule": "deal_lost", "settings": {"entry_delay_days": 90},
     "steps": [{"kind": "send_email", "template": "re-engage"}]},
]


def upgrade() -> None:
    for sequence in DEFAULT_SEQUENCES:
        op.get_bind().execute(sa.text(
            "INSERT INTO sequences (key, version, entry_rule, steps, active, settings) "
            "SELECT :key, 1, :rule, CAST(:steps AS jsonb), true, CAST(:settings AS jsonb) "
            "WHERE NOT EXISTS (SELECT 1 FROM sequences WHERE key = :key)"),
            {"key": sequence["key"], "rule": sequence["entry_rule"],
             "steps": json.dumps(sequence["steps"]), "settings": json.dumps(sequence["settings"])})


def downgrade() -> None:
    # Only the untouched seeds: same steps, no later version, nobody enrolled.
    for sequence in DEFAULT_SEQUENCES:
        op.get_bind().execute(sa.text(
            "DELETE FROM sequences WHERE key = :key AND version = 1 "
            "AND steps = CAST(:steps AS jsonb) "
            "AND NOT EXISTS (SELECT 1 FROM sequences WHERE key = :key AND version > 1) "
            "AND NOT EXISTS (SELECT 1 FROM enrollments WHERE sequence_key = :key)"),
            {"key": sequence["key"], "steps": json.dumps(sequence["steps"])})
