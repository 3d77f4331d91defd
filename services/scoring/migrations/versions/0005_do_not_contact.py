"""Do-not-contact: leads keep the purposes their consent was withdrawn for, and the default
model gains a disqualifier on a withdrawn sales-contact consent: version 2, active, every lead
re-scored under it by the background worker.

Revision ID: 0005_do_not_contact
Revises: 0004_history_probability
"""

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005_do_not_contact"
down_revision = "0004_history_probability"
branch_labels = None
depends_on = None

DO_NOT_CONTACT = {"id": "disqualify.do_not_contact",
                  "when": {"kind": "consent_withdrawn", "purpose": "sales_contact"}}


def _model_v1() -> dict[str, Any]:
    """Version 1 exactly as migration 0001 seeded it (a snapshot, not the code's defaults)."""
    spec = importlib.util.spec_from_file_location(
        "scoring_migration_0001", Path(__file__).with_name("0001_initial.py"))
    assert spec is not None and spec.loader is not None
    initial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(initial)
    return copy.deepcopy(initial.MODEL_V1)  # type: ignore[no-any-return]


# Checked against scoring.models.templates.DEFAULT_MODEL_CONFIG by tests/unit/test_scoring_rules.py.
MODEL_V2 = _model_v1()
MODEL_V2["disqualifiers"].append(DO_NOT_CONTACT)


def upgrade() -> None:
    op.add_column("leads", sa.Column("consent_withdrawn", JSONB, nullable=False,
                                     server_default=sa.text("'[]'::jsonb")))
    conn = op.get_bind()
    latest, default_active = conn.execute(sa.text(
        "SELECT max(version), bool_or(version = 1 AND is_active) FROM scoring_models")).one()
    # Only where the seeded version 1 is the only one: a deployment that made versions of its
    # own keeps them, and adds the disqualifier in a version of its own when it wants it.
    if latest != 1 or not default_active:
        return
    conn.execute(sa.text("UPDATE scoring_models SET is_active = false WHERE version = 1"))
    conn.execute(sa.text(
        "INSERT INTO scoring_models (version, name, config, is_active, activated_at) "
        "VALUES (2, 'default', CAST(:config AS jsonb), true, now())"),
        {"config": json.dumps(MODEL_V2)})
    # The re-score job POST /v1/models/2/activate would start.
    conn.execute(sa.text(
        "INSERT INTO rescore_jobs (model_version, reason, total) "
        "SELECT 2, 'activation', count(*) FROM leads "
        "WHERE profile IS NOT NULL AND erased_at IS NULL AND merged_into IS NULL"))


def downgrade() -> None:
    conn = op.get_bind()
    seeded = conn.execute(sa.text(
        "SELECT is_active FROM scoring_models WHERE version = 2 AND name = 'default' "
        "AND config = CAST(:config AS jsonb)"), {"config": json.dumps(MODEL_V2)}).one_or_none()
    if seeded is not None:
        conn.execute(sa.text("DELETE FROM rescore_jobs WHERE model_version = 2"))
        conn.execute(sa.text("DELETE FROM scoring_models WHERE version = 2"))
        if seeded.is_active:
            conn.execute(sa.text(
                "UPDATE scoring_models SET is_active = true, activated_at = now() "
                "WHERE version = 1"))
    op.drop_column("leads", "consent_withdrawn")
