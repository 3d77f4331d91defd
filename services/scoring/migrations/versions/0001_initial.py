"""Scoring models (version 1 active), leads, activities, score history, deal outcomes.

Revision ID: 0001
Revises:
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from leadloop.infra_tables import create_infra_tables, drop_infra_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Written out rather than imported: a migration is a snapshot, and version 1 must stay what it
# was when seeded whatever the code's defaults become. tests/unit/test_scoring_rules.py checks it
# against scoring.models.templates.DEFAULT_MODEL_CONFIG.
MODEL_V1 = {
    "fit_rules": [
        {"id": "fit.business_email", "points": 15,
         "when": {"kind": "business_email", "free_mail_domains": [
             "gmail.com", "googlemail.com", "yahoo.*", "ymail.com", "hotmail.*", "outlook.*",
             "live.*", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
             "protonmail.com", "pm.me", "gmx.*", "web.de", "t-online.de", "mail.ru", "yandex.*",
             "mail.com", "zoho.com", "qq.com", "163.com", "126.com",
         ]}},
        {"id": "fit.senior_title", "points": 25,
         "when": {"kind": "field_matches", "field": "job_title",
                  "pattern": r"\b(vp|vice president|director|head|chief|cxo|ceo|cto|cmo|cfo"
                             r"|founder|owner|president)\b"}},
        {"id": "fit.company_size_50", "points": 15,
         "when": {"kind": "number_at_least", "field": "company_size", "minimum": 50.0}},
        {"id": "fit.phone", "points": 5, "when": {"kind": "field_present", "field": "phone"}},
    ],
    "engagement_rules": [
        {"id": "engagement.page_view", "activity_kind": "page_view", "url_contains": None,
         "points": 2, "repeatable": True, "cap": 20},
        {"id": "engagement.pricing_page", "activity_kind": "page_view",
         "url_contains": "/pricing", "points": 15, "repeatable": False, "cap": None},
        {"id": "engagement.form_submitted", "activity_kind": "form_submitted",
         "url_contains": None, "points": 10, "repeatable": True, "cap": 30},
        {"id": "engagement.email_clicked", "activity_kind": "email_clicked", "url_contains": None,
         "points": 5, "repeatable": True, "cap": 25},
        {"id": "engagement.email_opened", "activity_kind": "email_opened", "url_contains": None,
         "points": 1, "repeatable": True, "cap": 5},
    ],
    "disqualifiers": [
        {"id": "disqualify.student",
         "when": {"kind": "field_matches", "field": "job_title",
                  "pattern": r"\b(student|intern)\b"}},
        {"id": "disqualify.competitor", "when": {"kind": "email_domain_in", "domains": []}},
    ],
    "grades": [
        {"grade": "A", "min_fit": 50},
        {"grade": "B", "min_fit": 35},
        {"grade": "C", "min_fit": 20},
    ],
    "default_grade": "D",
    "mql": {"min_score": 50, "grades": ["A", "B"]},
    "decay": {"half_life_days": 30.0, "window_days": 365},
}


def _timestamp(name: str, nullable: bool = True, now: bool = False) -> "sa.Column[Any]":
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if now else None)


def upgrade() -> None:
    create_infra_tables(op)
    models = op.create_table(
        "scoring_models",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("config", JSONB, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.text("false")),
        _timestamp("created_at", nullable=False, now=True),
        _timestamp("activated_at"),
    )
    op.create_index("scoring_models_one_active", "scoring_models", ["is_active"], unique=True,
                    postgresql_where=sa.text("is_active"))
    op.create_table(
        "leads",
        sa.Column("lead_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("profile", JSONB),
        sa.Column("consent", JSONB),
        sa.Column("source", JSONB),
        _timestamp("profile_at"),
        sa.Column("profile_event_id", sa.Text),
        sa.Column("score", sa.Integer),
        sa.Column("fit_score", sa.Integer),
        sa.Column("engagement_score", sa.Integer),
        sa.Column("grade", sa.Text),
        sa.Column("is_mql", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("model_version", sa.Integer),
        sa.Column("contributions", JSONB, nullable=False,
                  server_default=sa.text("'[]'::jsonb")),
        _timestamp("scored_at"),
        sa.Column("qualification", sa.Text, nullable=False, server_default=sa.text("'open'")),
        _timestamp("qualified_at"),
        _timestamp("rejected_at"),
        sa.Column("disqualified_rule", sa.Text),
        sa.Column("disqualified_reason", sa.Text),
        _timestamp("disqualified_at"),
        _timestamp("erased_at"),
        _timestamp("first_seen_at", nullable=False, now=True),
    )
    op.create_table(
        "lead_activities",
        sa.Column("activity_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("url", sa.Text),
        _timestamp("occurred_at", nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        _timestamp("recorded_at", nullable=False, now=True),
    )
    op.create_index("lead_activities_by_lead", "lead_activities", ["lead_id", "occurred_at"])
    op.create_table(
        "score_history",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("fit_score", sa.Integer, nullable=False),
        sa.Column("engagement_score", sa.Integer, nullable=False),
        sa.Column("grade", sa.Text, nullable=False),
        sa.Column("is_mql", sa.Boolean, nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("event_id", sa.Text),
        _timestamp("scored_at", nullable=False),
    )
    op.create_index("score_history_by_lead", "score_history", ["lead_id", "id"])
    op.create_table(
        "deal_outcomes",
        sa.Column("deal_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        _timestamp("closed_at", nullable=False),
        sa.Column("model_version", sa.Integer),
        sa.Column("features", JSONB, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        _timestamp("recorded_at", nullable=False, now=True),
    )
    op.create_index("deal_outcomes_by_lead", "deal_outcomes", ["lead_id"])
    op.execute(models.insert().values(version=1, name="default", config=MODEL_V1,
                                      is_active=True, activated_at=sa.func.now()))


def downgrade() -> None:
    for table in ("deal_outcomes", "score_history", "lead_activities", "leads",
                  "scoring_models"):
        op.drop_table(table)
    drop_infra_tables(op)
