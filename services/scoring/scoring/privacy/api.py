"""Scoring's part of a GDPR export: the lead's score with each rule's contribution (why), its
score history, the activities it was scored on, and the deal outcomes kept for learning."""

from sqlalchemy import select

from leadloop.export import export_router
from scoring.tables import deal_outcomes, lead_activities, leads, score_history

router = export_router({
    "score": lambda lead_id: select(leads).where(leads.c.lead_id == lead_id),
    "score_history": lambda lead_id: select(score_history)
    .where(score_history.c.lead_id == lead_id).order_by(score_history.c.scored_at),
    "activities": lambda lead_id: select(lead_activities)
    .where(lead_activities.c.lead_id == lead_id).order_by(lead_activities.c.occurred_at),
    "deal_outcomes": lambda lead_id: select(deal_outcomes)
    .where(deal_outcomes.c.lead_id == lead_id),
})
