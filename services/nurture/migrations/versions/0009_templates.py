"""Templates as data (versioned like sequences), seeded with the emails that shipped as files;
lead states keep the postal address (direct mail) and the rep a lead was handed to.

A key someone already created is left alone. Sequence steps that name a template without a
version use its newest one, so the sequences stored before keep working.

Revision ID: 0009_templates
Revises: 0008_link_targets_rate_limits
"""

# ruff: noqa: E501  (the seeded HTML is kept exactly as it shipped, long lines and all)
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_templates"
down_revision = "0008_link_targets_rate_limits"
branch_labels = None
depends_on = None

# Written out, not read from the code: a migration seeds what was true when it was written.
# The greeting and the call to action were the shipped layout; the unsubscribe footer and the
# open pixel are added to every email by nurture itself.
_HEAD = '<p>Hi {{ lead.first_name or "there" }},</p>\n'
_TAIL = ("<p><strong>Rather talk to a person?</strong> Call us directly at\n"
         "<a href=\"tel:{{ sales_phone | replace(' ', '') }}\">{{ sales_phone }}</a>.</p>\n")
_WELCOME = 'Welcome{% if lead.first_name %}, {{ lead.first_name }}{% endif %}'
SEEDS = {
    "welcome": (_WELCOME, """<p>Thanks for your interest{% if lead.company %} from {{ lead.company }}{% endif %}.
Here is a short guide to getting more from every lead:</p>
<p><a href="{{ track('https://leadloop.example/guides/getting-started') }}">Read the guide</a></p>
"""),
    "case-study": ("How a team like yours halved its response time", """<p>A sales team{% if lead.company %} much like {{ lead.company }}'s{% endif %} now answers every
qualified lead within five minutes. Here is how they did it:</p>
<p><a href="{{ track('https://leadloop.example/case-studies/response-time') }}">Read the case study</a></p>
"""),
    "pricing-guide": ("Our pricing, plainly", """<p>No hard sell: here is what things cost, so you can decide in your own time.</p>
<p><a href="{{ track('https://leadloop.example/pricing') }}">See the pricing guide</a></p>
"""),
    "recycle-checkin": ("Still thinking it over?", """<p>We spoke a little while ago{% if lead.company %} about {{ lead.company }}'s leads{% endif %}.
No pressure: when the timing is better, this short checklist helps you see where leads wait
longest today.</p>
<p><a href="{{ track('https://leadloop.example/guides/lead-response-checklist') }}">Open the checklist</a></p>
"""),
    "onboarding-welcome": ("Welcome aboard{% if lead.first_name %}, {{ lead.first_name }}{% endif %}", """<p>Thank you for choosing us{% if lead.company %}, and welcome to everyone at {{ lead.company }}{% endif %}.
The first steps take about fifteen minutes:</p>
<p><a href="{{ track('https://leadloop.example/guides/first-steps') }}">Your first steps</a></p>
"""),
    "onboarding-tips": ("Three things customers set up in their first week", """<p>Routing rules, an SLA that fits your team, and a digest for the people who want numbers, not
dashboards. Here is how each one works:</p>
<p><a href="{{ track('https://leadloop.example/guides/first-week') }}">Read the tips</a></p>
"""),
    "re-engage": ("What has changed since we last spoke", """<p>It has been a while{% if lead.company %} since we talked with {{ lead.company }}{% endif %}.
Here is what is new, in two minutes of reading, in case the timing is better now:</p>
<p><a href="{{ track('https://leadloop.example/whats-new') }}">See what is new</a></p>
"""),
}


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("html", sa.Text),
        sa.Column("text", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    for key, (subject, body) in SEEDS.items():
        op.get_bind().execute(sa.text(
            "INSERT INTO templates (key, version, channel, subject, html, description) "
            "SELECT :key, 1, 'email', :subject, :html, 'shipped with LeadLoop' "
            "WHERE NOT EXISTS (SELECT 1 FROM templates WHERE key = :key)"),
            {"key": key, "subject": subject, "html": _HEAD + body + _TAIL})
    op.add_column("lead_states", sa.Column("postal_address", JSONB))
    op.add_column("lead_states", sa.Column("rep", JSONB))


def downgrade() -> None:
    op.drop_column("lead_states", "rep")
    op.drop_column("lead_states", "postal_address")
    op.drop_table("templates")
