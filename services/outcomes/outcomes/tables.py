"""Outcomes' tables: deals from sales tools, and the funnel read model built from events."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from leadloop.page_sessions import page_sessions_table
from outcomes.funnel.domain import FUNNEL_ORDER, stage_column

metadata = MetaData()

deals = Table(
    "deals",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    # The sales tool's id; NULL once the lead is erased (it points at the person's CRM record).
    Column("external_id", Text, unique=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("lost_reason", Text),
    Column("opened_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('open', 'won', 'lost')", name="deal_status"),
    CheckConstraint("amount_minor >= 0", name="deal_amount_not_negative"),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="deal_currency_iso4217"),
    Index("deals_by_lead", "lead_id"),
)

# Leads sales or an integration closed as not converted, one closure per lead; each closure is
# announced as lead.closed (the funnel counts it, scoring learns from it).
lead_closures = Table(
    "lead_closures",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("closure_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("reason", Text, nullable=False),
    Column("note", Text),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One row per lead: the first time it reached each stage, and where it came from.
# An erased lead's row stays as a tombstone (erased, everything else NULL) so that late events
# about it find it and change nothing; its numbers live on in an anonymous row with a random id.
funnel_leads = Table(
    "funnel_leads",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("erased", Boolean, nullable=False, server_default=text("false")),
    Column("anonymous", Boolean, nullable=False, server_default=text("false")),
    *(Column(stage_column(stage), DateTime(timezone=True)) for stage in FUNNEL_ORDER),
    Column("rejected_at", DateTime(timezone=True)),
    Column("rejection_reason", Text),
    # Closed as not converted (lead.closed): the first time, and why.
    Column("not_converted_at", DateTime(timezone=True)),
    Column("not_converted_reason", Text),
    Column("channel", Text),
    Column("campaign", Text),
    Column("utm_source", Text),
    Column("utm_medium", Text),
    Column("utm_campaign", Text),
    Column("utm_term", Text),
    Column("utm_content", Text),
    Column("form_id", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Speed to lead: the rep's first touch (lead.contacted).
    Column("first_contacted_at", DateTime(timezone=True)),
    # The rep of the latest handoff (a reassignment replaces the first), and when it was made.
    Column("rep_id", UUID(as_uuid=True)),
    Column("rep_name", Text),
    Column("rep_at", DateTime(timezone=True)),
    # The latest score (lead.scored), for score calibration.
    Column("score", Integer),
    Column("scored_at", DateTime(timezone=True)),
    # Market attributes from the lead's latest profile (lead.created, lead.updated), for the
    # market breakdowns; never who the person is (no email, name or phone here).
    Column("country", Text),
    Column("region", Text),
    Column("company_size_band", Text),
    Column("industry", Text),
    Column("properties", JSONB),
    Column("profile_at", DateTime(timezone=True)),
    # The lead's account (leadloop.accounts): its email's company domain from the latest profile
    # (NULL for free mail), and the account handoff named at the latest hand-off, which applies
    # the aliases admins set there (acme.co.uk onto acme-corp.com); the second wins when known.
    # Never the address itself. Not kept in an erased lead's anonymous row.
    Column("account", Text),
    Column("handed_off_account", Text),
    # The lead this one was merged into (lead.merged; NULL again once lead.unmerged undoes it),
    # and the time of that latest merge or unmerge: the later one wins, whatever order a replay
    # applies them in. The row keeps the lead's own facts, so undoing a merge is clearing this;
    # reports count it as part of its survivor (outcomes.funnel.counted).
    Column("merged_into", UUID(as_uuid=True)),
    Column("merge_state_at", DateTime(timezone=True)),
    # Reports filter on when the lead was created; the rejection report on when it was rejected.
    Index("funnel_leads_by_lead_at", "lead_at", postgresql_where=text("NOT erased")),
    Index("funnel_leads_by_rejected_at", "rejected_at",
          postgresql_where=text("rejected_at IS NOT NULL AND NOT erased")),
    # Merges are rare: every report reads the few merged rows to find the survivors.
    Index("funnel_leads_merged", "merged_into", postgresql_where=text("merged_into IS NOT NULL")),
)

# The raw touch log attribution reads: the form post that created a lead and every activity that
# carries a source. Kept as the events said, so any model can be applied at query time.
touches = Table(
    "touches",
    metadata,
    Column("touch_id", Text, primary_key=True),  # the activity id, or created:<lead id>
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("channel", Text),
    Column("campaign", Text),
    Column("utm_source", Text),
    Column("utm_medium", Text),
    Column("utm_campaign", Text),
    Index("touches_by_lead", "lead_id", "occurred_at"),
)

# Won and lost deals as deal.closed announced them: the read model's revenue, rebuilt from events
# like the rest (the deals table is outcomes' own state and is not).
closed_deals = Table(
    "closed_deals",
    metadata,
    Column("deal_id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("outcome", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    Index("closed_deals_by_lead", "lead_id"),
)

# Every event about a lead, in words a rep reads (outcomes.timeline): its timeline. Keyed by the
# event's id, so a redelivered or replayed event is kept once; deleted when the lead is erased.
timeline_entries = Table(
    "timeline_entries",
    metadata,
    Column("entry_id", Text, primary_key=True),  # the event's CloudEvents id
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("type", Text, nullable=False),  # the event's versioned type
    Column("kind", Text, nullable=False),  # created, page_view, scored, accepted, deal_won, ...
    Column("summary", Text, nullable=False),
    Column("actor", Text),  # who did it (a sales action's key or rep), when the event says
    Column("detail", JSONB, nullable=False),
    Index("timeline_entries_by_lead", "lead_id", "occurred_at", "entry_id"),
)

READ_MODEL_TABLES = (funnel_leads, touches, closed_deals, timeline_entries)

# The digests, one row per period: the durable schedule (claimed when due with FOR UPDATE SKIP
# LOCKED) and, once composed, the figures it sent. The period is the primary key, so two replicas
# or a restart can never make a second digest for the same period. Not part of the read model:
# a rebuild keeps the digests that were sent.
digests = Table(
    "digests",
    metadata,
    Column("period", Text, primary_key=True),  # e.g. 2026-W48, 2026-11-23, 2026-11-23T16:50:20Z
    Column("schedule", Text, nullable=False),  # the schedule that made it: week, day, 20s, ...
    Column("period_start", DateTime(timezone=True), nullable=False),
    Column("period_end", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False, server_default=text("'scheduled'")),
    Column("content", JSONB),
    Column("composed_at", DateTime(timezone=True)),
    Column("recipients", JSONB),
    Column("sent_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('scheduled', 'composed', 'sent', 'failed', 'no_recipients')",
                    name="digest_status"),
    Index("digests_due", "schedule", "due_at",
          postgresql_where=text("status IN ('scheduled', 'composed')")),
    Index("digests_by_end", "period_end"),
)

# Who gets the digest, per team (marketing, sales), managed through the API; the addresses in
# LEADLOOP_OUTCOMES_DIGEST_RECIPIENTS get it too.
digest_recipients = Table(
    "digest_recipients",
    metadata,
    Column("team", Text, primary_key=True),
    Column("email", Text, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("team IN ('marketing', 'sales')", name="digest_recipient_team"),
)

# Dashboard sign-ins: the cookie carries the id (signed, with its expiry); the row names the API
# key signed in with (its name, no hash). Logging out deletes the row, so a copied cookie dies
# with the session.
dashboard_sessions = page_sessions_table(metadata, "dashboard_sessions", key_column="key_name")

# Each lead's lifecycle stage (outcomes.lifecycle): outcomes' own state, like deals, and not part
# of the read model a rebuild replaces (a replay finds every stage already reached and announces
# nothing twice). An erased lead keeps a tombstone row (erased, no stage), so late events about
# it announce nothing.
lead_lifecycle = Table(
    "lead_lifecycle",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("stage", Text),
    Column("stage_at", DateTime(timezone=True)),
    Column("first_won_deal_id", UUID(as_uuid=True)),
    Column("reset_at", DateTime(timezone=True)),
    Column("erased", Boolean, nullable=False, server_default=text("false")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("lead_lifecycle_by_stage", "stage", postgresql_where=text("NOT erased")),
)
