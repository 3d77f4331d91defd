"""A lead's timeline entries, from events, in pure code (outcomes.timeline)."""

import uuid
from datetime import UTC, datetime, timedelta

from leadloop.events import CloudEvent
from leadloop.events.models import (
    Actor,
    EventData,
    LeadAccepted,
    LeadActivity,
    LeadHandedOff,
    LeadProfile,
    LeadRejected,
    LeadScored,
    LeadSource,
    RejectionReason,
    RepRef,
    ScoreContribution,
    event_type_of,
)
from leadloop.handlers import Item
from outcomes.timeline.domain import timeline_rows

LEAD = uuid.uuid4()
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _item(event: EventData, event_id: str | None = None) -> Item[EventData]:
    envelope = CloudEvent(type=event_type_of(event), source="test", subject=str(LEAD), data={},
                          id=event_id or str(uuid.uuid4()))
    return Item(event, envelope)


def _contribution(rule: str, points: int, reason: str) -> ScoreContribution:
    return ScoreContribution(rule_id=rule, points=points, reason=reason, model_version=3)


def test_score_change_keeps_its_reasons_largest_first() -> None:
    scored = LeadScored(lead_id=LEAD, score=55, fit_score=40, engagement_score=15, grade="A",
                        model_version=3, is_mql=True, scored_at=T0,
                        contributions=[_contribution("pricing", 15, "visited pricing"),
                                       _contribution("title", 30, "job title VP"),
                                       _contribution("free-mail", -5, "free mail domain")])
    [row] = timeline_rows([_item(scored)])
    assert row["kind"] == "scored" and row["summary"] == "Score 55 (grade A, MQL)"
    assert [c["rule_id"] for c in row["detail"]["contributions"]] == \
        ["title", "pricing", "free-mail"]
    assert row["detail"]["contributions"][0]["reason"] == "job title VP"


def test_a_score_entry_keeps_no_empty_values_and_its_win_probability_when_learned() -> None:
    def scored(win_probability: float | None) -> LeadScored:
        return LeadScored(lead_id=LEAD, score=20, fit_score=20, engagement_score=0, grade="C",
                          model_version=3, is_mql=False, scored_at=T0,
                          win_probability=win_probability,
                          contributions=[_contribution("title", 20, "job title VP")])
    [plain, learned] = timeline_rows([_item(scored(None)), _item(scored(0.25))])
    assert plain["detail"] == {
        "score": 20, "fit_score": 20, "engagement_score": 0, "grade": "C", "is_mql": False,
        "model_version": 3,
        "contributions": [{"rule_id": "title", "points": 20, "reason": "job title VP"}]}
    assert learned["detail"] == {**plain["detail"], "win_probability": 0.25}


def test_sales_actions_name_who_did_them_and_queue_entries_say_so() -> None:
    assignment = uuid.uuid4()
    rep = RepRef(id=uuid.uuid4(), name="Ann", email="ann@sales.example", team="emea")
    queued = LeadHandedOff(
        lead_id=LEAD, assignment_id=assignment, rep=None, routing_rule="none",
        routing_reason="no rep in office", profile=LeadProfile(email="j@acme.com"), score=55,
        grade="A", qualified_at=T0, handed_off_at=T0)
    manual = queued.model_copy(update={
        "rep": rep, "routing_rule": "manual", "routing_reason": "Ann knows them",
        "assigned_by": Actor(name="rep:mia@sales.example/phone"),
        "handed_off_at": T0 + timedelta(minutes=2)})
    accepted = LeadAccepted(lead_id=LEAD, assignment_id=assignment, rep_id=rep.id,
                            accepted_at=T0 + timedelta(minutes=3),
                            by=Actor(name="rep:ann@sales.example/laptop", rep_id=rep.id))
    rejected = LeadRejected(lead_id=LEAD, assignment_id=assignment, rep_id=rep.id,
                            reason_code=RejectionReason.no_budget, note="next year",
                            rejected_at=T0 + timedelta(minutes=4))
    rows = timeline_rows([_item(e) for e in (queued, manual, accepted, rejected)])
    assert [r["kind"] for r in rows] == ["queued", "assigned", "accepted", "rejected"]
    assert rows[0]["summary"] == "Waiting in the fallback queue: no rep in office"
    assert rows[1]["actor"] == "rep:mia@sales.example/phone"
    assert rows[1]["summary"] == "Assigned to Ann: Ann knows them"
    assert rows[2]["actor"] == "rep:ann@sales.example/laptop"
    assert rows[3]["summary"] == "Rejected (no budget): next year"
    assert rows[3]["detail"]["reason_code"] == "no_budget"


def test_an_event_delivered_twice_is_one_entry() -> None:
    activity = LeadActivity(lead_id=LEAD, activity_id=uuid.uuid4(), kind="email_clicked",
                            occurred_at=T0, url="https://acme.example/pricing")
    rows = timeline_rows([_item(activity, "e-1"), _item(activity, "e-1")])
    assert len(rows) == 1
    assert rows[0]["entry_id"] == "e-1" and rows[0]["kind"] == "email_clicked"
    assert rows[0]["summary"] == "email clicked https://acme.example/pricing"


def test_an_activity_entry_keeps_its_url_and_source_without_empty_values() -> None:
    visit, open_ = (LeadActivity(lead_id=LEAD, activity_id=uuid.uuid4(), kind=kind,
                                 occurred_at=T0, url=url,
                                 source=LeadSource(channel="tracking", utm_source="news"))
                    for kind, url in (("page_view", "https://acme.example/docs"),
                                      ("email_opened", None)))
    rows = timeline_rows([_item(visit), _item(open_)])
    assert [row["detail"] for row in rows] == [
        {"activity_id": str(visit.activity_id), "url": "https://acme.example/docs",
         "source": {"channel": "tracking", "utm_source": "news"}},
        {"activity_id": str(open_.activity_id),
         "source": {"channel": "tracking", "utm_source": "news"}}]
    assert rows[1]["summary"] == "email opened"
