"""Outcomes' tables: deals from sales tools, and the funnel read model built from events."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from outcomes.domain import FUNNEL_ORDER, stage_column

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
    Column("channel", Text),
    Column("campaign", Text),
    Column("utm_source", Text),
    Column("utm_medium", Text),
    Column("utm_campaign", Text),
    Column("utm_term", Text),
    Column("utm_content", Text),
    Column("form_id", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Reports filter on when the lead was created.
    Index("funnel_leads_by_lead_at", "lead_at", postgresql_where=text("NOT erased")),
)
