"""Outcomes' part of a GDPR export: the lead's deals, its funnel row and its touches."""

from sqlalchemy import select

from leadloop.export import export_router
from outcomes.tables import closed_deals, deals, funnel_leads, touches

router = export_router({
    "deals": lambda lead_id: select(deals)
    .where(deals.c.lead_id == lead_id).order_by(deals.c.created_at),
    "closed_deals": lambda lead_id: select(closed_deals)
    .where(closed_deals.c.lead_id == lead_id).order_by(closed_deals.c.closed_at),
    "funnel": lambda lead_id: select(funnel_leads).where(funnel_leads.c.lead_id == lead_id),
    "touches": lambda lead_id: select(touches)
    .where(touches.c.lead_id == lead_id).order_by(touches.c.occurred_at),
})
