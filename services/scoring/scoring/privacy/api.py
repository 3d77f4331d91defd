"""Scoring's part of a GDPR export: the lead's score with each rule's contribution (why), its
score history, the activities it was scored on, and the deal outcomes kept for learning."""

from leadloop.export import export_router, rows_about
from scoring.tables import deal_outcomes, lead_activities, leads, score_history

router = export_router({
    "score": rows_about(leads),
    "score_history": rows_about(score_history, order_by="scored_at"),
    "activities": rows_about(lead_activities, order_by="occurred_at"),
    "deal_outcomes": rows_about(deal_outcomes),
})
