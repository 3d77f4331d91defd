"""Handoff's part of a GDPR export: its copy of the qualified lead, every assignment (reps,
accept/reject/contact, SLA timers), when the lead arrived, and the webhooks sent about it."""

from sqlalchemy import select

from handoff.tables import assignments, lead_arrivals, leads, sla_timers, webhook_deliveries
from leadloop.export import export_router

router = export_router({
    "lead": lambda lead_id: select(leads).where(leads.c.lead_id == lead_id),
    "assignments": lambda lead_id: select(assignments)
    .where(assignments.c.lead_id == lead_id).order_by(assignments.c.handed_off_at),
    "sla_timers": lambda lead_id: select(sla_timers).join(
        assignments, assignments.c.id == sla_timers.c.assignment_id)
    .where(assignments.c.lead_id == lead_id).order_by(sla_timers.c.due_at),
    "arrival": lambda lead_id: select(lead_arrivals).where(lead_arrivals.c.lead_id == lead_id),
    "webhook_deliveries": lambda lead_id: select(webhook_deliveries)
    .where(webhook_deliveries.c.lead_id == lead_id).order_by(webhook_deliveries.c.created_at),
})
