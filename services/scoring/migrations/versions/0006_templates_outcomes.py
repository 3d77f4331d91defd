"""Templates, engagement intensity, outcomes without deals, and the score's "as of" marker.

- lead_activities.numbers: an activity's numeric properties, for intensity rules and features;
- leads.last_event_id/type/at: the last event applied to a lead, and when it happened;
- deal_outcomes also holds leads closed as not converted (lead.closed): amount and currency
  become optional, and a reason is kept;
- the default model gains version 3 (the `b2b` template): students are no longer disqualified
  for good (a lower fit score instead), webinars, events and engagement intensity score. Seeded
  and activated only where the seeded version 2 is the latest and active, like 0005.

Revision ID: 0006_templates_outcomes
Revises: 0005_do_not_contact
"""

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_templates_outcomes"
down_revision = "0005_do_not_contact"
branch_labels = None
depends_on = None

# A snapshot, not the code's defaults; checked against scoring.models.templates.DEFAULT_MODEL_CONFIG
# by tests/unit/test_scoring_rules.py.
MODEL_V3 = {'fit_rules': [{'id': 'fit.business_email',
                'points': 15,
                'when': {'kind': 'business_email',
                         'free_mail_domains': ['gmail.com',
                                               'googlemail.com',
                                               'yahoo.*',
                                               'ymail.com',
                                               'hotmail.*',
                                               'outlook.*',
                                               'live.*',
                                               'msn.com',
                                               'icloud.com',
                                               'me.com',
                                               'mac.com',
                                               'aol.com',
                                               'proton.me',
                                               'protonmail.com',
                                               'pm.me',
                                               'gmx.*',
                                               'web.de',
                                               't-online.de',
                                               'mail.ru',
                                               'yandex.*',
                                               'mail.com',
                                               'zoho.com',
                                               'qq.com',
                                               '163.com',
                                               '126.com']}},
               {'id': 'fit.senior_title',
                'points': 25,
                'when': {'kind': 'field_matches',
                         'field': 'job_title',
                         'pattern': '\\b(vp|vice '
                                    'president|director|head|chief|cxo|ceo|cto|cmo|cfo|founder|owner|president)\\b'}},
               {'id': 'fit.company_size_50',
                'points': 15,
                'when': {'kind': 'number_at_least', 'field': 'company_size', 'minimum': 50.0}},
               {'id': 'fit.phone',
                'points': 5,
                'when': {'kind': 'field_present', 'field': 'phone'}},
               {'id': 'fit.student_title',
                'points': -20,
                'when': {'kind': 'field_matches',
                         'field': 'job_title',
                         'pattern': '\\b(student|intern)\\b'}}],
 'engagement_rules': [{'id': 'engagement.page_view',
                       'activity_kind': 'page_view',
                       'url_contains': None,
                       'url_pattern': None,
                       'points': 2,
                       'repeatable': True,
                       'cap': 20,
                       'period_cap': None},
                      {'id': 'engagement.pricing_page',
                       'activity_kind': 'page_view',
                       'url_contains': '/pricing',
                       'url_pattern': None,
                       'points': 15,
                       'repeatable': False,
                       'cap': None,
                       'period_cap': None},
                      {'id': 'engagement.form_submitted',
                       'activity_kind': 'form_submitted',
                       'url_contains': None,
                       'url_pattern': None,
                       'points': 10,
                       'repeatable': True,
                       'cap': 30,
                       'period_cap': None},
                      {'id': 'engagement.email_clicked',
                       'activity_kind': 'email_clicked',
                       'url_contains': None,
                       'url_pattern': None,
                       'points': 5,
                       'repeatable': True,
                       'cap': 25,
                       'period_cap': None},
                      {'id': 'engagement.email_opened',
                       'activity_kind': 'email_opened',
                       'url_contains': None,
                       'url_pattern': None,
                       'points': 1,
                       'repeatable': True,
                       'cap': 5,
                       'period_cap': None},
                      {'id': 'engagement.webinar_registered',
                       'activity_kind': 'webinar_registered',
                       'url_contains': None,
                       'url_pattern': None,
                       'points': 10,
                       'repeatable': True,
                       'cap': 20,
                       'period_cap': None},
                      {'id': 'engagement.webinar_attended',
                       'activity_kind': 'webinar_attended',
                       'url_contains': None,
                       'url_pattern': None,
                       'points': 20,
                       'repeatable': True,
                       'cap': 40,
                       'period_cap': None},
                      {'id': 'engagement.content_downloaded',
                       'activity_kind': 'content_downloaded',
                       'url_contains': None,
                       'url_pattern': None,
                       'points': 5,
                       'repeatable': True,
                       'cap': 15,
                       'period_cap': None},
                      {'id': 'engagement.pricing_viewed',
                       'activity_kind': 'pricing_viewed',
                       'url_contains': None,
                       'url_pattern': None,
                       'points': 15,
                       'repeatable': False,
                       'cap': None,
                       'period_cap': None},
                      {'id': 'engagement.demo_requested',
                       'activity_kind': 'demo_requested',
                       'url_contains': None,
                       'url_pattern': None,
                       'points': 25,
                       'repeatable': False,
                       'cap': None,
                       'period_cap': None},
                      {'id': 'engagement.call_requested',
                       'activity_kind': 'call_requested',
                       'url_contains': None,
                       'url_pattern': None,
                       'points': 20,
                       'repeatable': False,
                       'cap': None,
                       'period_cap': None}],
 'intensity_rules': [{'measure': 'time_on_site',
                      'window_days': 30,
                      'activity_kind': None,
                      'url_contains': None,
                      'attribute': None,
                      'id': 'intensity.time_on_site',
                      'bands': [{'at_least': 300.0, 'below': 1200.0, 'points': 5},
                                {'at_least': 1200.0, 'below': None, 'points': 10}]},
                     {'measure': 'days_since_last',
                      'window_days': 30,
                      'activity_kind': 'page_view',
                      'url_contains': None,
                      'attribute': None,
                      'id': 'intensity.recent_visit',
                      'bands': [{'at_least': None, 'below': 7.0, 'points': 5}]}],
 'disqualifiers': [{'id': 'disqualify.competitor',
                    'when': {'kind': 'email_domain_in', 'domains': []}},
                   {'id': 'disqualify.do_not_contact',
                    'when': {'kind': 'consent_withdrawn', 'purpose': 'sales_contact'}}],
 'grades': [{'grade': 'A', 'min_fit': 50},
            {'grade': 'B', 'min_fit': 35},
            {'grade': 'C', 'min_fit': 20}],
 'default_grade': 'D',
 'mql': {'min_score': 50, 'grades': ['A', 'B'], 'min_probability': None},
 'decay': {'half_life_days': 30.0, 'window_days': 365},
 'learning': None}

def upgrade() -> None:
    op.add_column("lead_activities", sa.Column("numbers", JSONB))
    op.add_column("leads", sa.Column("last_event_id", sa.Text))
    op.add_column("leads", sa.Column("last_event_type", sa.Text))
    op.add_column("leads", sa.Column("last_event_at", sa.DateTime(timezone=True)))
    op.alter_column("deal_outcomes", "amount_minor", nullable=True)
    op.alter_column("deal_outcomes", "currency", nullable=True)
    op.add_column("deal_outcomes", sa.Column("reason", sa.Text))
    conn = op.get_bind()
    latest, default_active = conn.execute(sa.text(
        "SELECT max(version), bool_or(version = 2 AND is_active AND name = 'default') "
        "FROM scoring_models")).one()
    if latest != 2 or not default_active:
        return  # a deployment with versions of its own picks a template when it wants one
    conn.execute(sa.text("UPDATE scoring_models SET is_active = false WHERE version = 2"))
    # The new activation's job covers every lead: a job still running (0005's) is superseded,
    # as POST /v1/models/{v}/activate does.
    conn.execute(sa.text("UPDATE rescore_jobs SET status = 'superseded', finished_at = now() "
                         "WHERE status = 'running'"))
    conn.execute(sa.text(
        "INSERT INTO scoring_models (version, name, config, is_active, activated_at) "
        "VALUES (3, 'default', CAST(:config AS jsonb), true, now())"),
        {"config": json.dumps(MODEL_V3)})
    conn.execute(sa.text(
        "INSERT INTO rescore_jobs (model_version, reason, total) "
        "SELECT 3, 'activation', count(*) FROM leads "
        "WHERE profile IS NOT NULL AND erased_at IS NULL AND merged_into IS NULL"))


def downgrade() -> None:
    conn = op.get_bind()
    seeded = conn.execute(sa.text(
        "SELECT is_active FROM scoring_models WHERE version = 3 AND name = 'default' "
        "AND config = CAST(:config AS jsonb)"), {"config": json.dumps(MODEL_V3)}).one_or_none()
    if seeded is not None:
        conn.execute(sa.text("DELETE FROM rescore_jobs WHERE model_version = 3"))
        conn.execute(sa.text("DELETE FROM scoring_models WHERE version = 3"))
        if seeded.is_active:
            conn.execute(sa.text(
                "UPDATE scoring_models SET is_active = true, activated_at = now() "
                "WHERE version = 2"))
    conn.execute(sa.text("DELETE FROM deal_outcomes WHERE outcome = 'not_converted'"))
    op.drop_column("deal_outcomes", "reason")
    op.alter_column("deal_outcomes", "currency", nullable=False)
    op.alter_column("deal_outcomes", "amount_minor", nullable=False)
    op.drop_column("leads", "last_event_at")
    op.drop_column("leads", "last_event_type")
    op.drop_column("leads", "last_event_id")
    op.drop_column("lead_activities", "numbers")
