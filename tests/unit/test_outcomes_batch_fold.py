"""Outcomes' batch fold: a batch's events folded per lead give the row the merge rules give,
whatever the order, with one touch per activity and one closed deal per deal."""

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta

from leadloop.events.models import (
    DealClosed,
    LeadActivity,
    LeadClosed,
    LeadCreated,
    LeadHandedOff,
    LeadProfile,
    LeadRejected,
    LeadScored,
    LeadSource,
    LeadUpdated,
    RejectionReason,
    RepRef,
)
from outcomes.funnel.facts import facts_of, fold_funnel
from tests.support.outcomes_stories import generate_stories, story_events

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEAD = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER = uuid.UUID("00000000-0000-4000-8000-000000000002")
ANN = RepRef(id=uuid.UUID(int=1), name="Ann", email="ann@sales.example")
BOB = RepRef(id=uuid.UUID(int=2), name="Bob", email="bob@sales.example")


def scored(score: int, at: datetime, lead: uuid.UUID = LEAD) -> LeadScored:
    return LeadScored(lead_id=lead, score=score, fit_score=0, engagement_score=0, grade="A",
                      model_version=1, is_mql=False, scored_at=at)


def created(at: datetime, campaign: str | None = "q4", country: str | None = "DE"
            ) -> LeadCreated:
    return LeadCreated(lead_id=LEAD, profile=LeadProfile(email="a@b.example", country=country),
                       source=LeadSource(channel="form", campaign=campaign), created_at=at)


def handed_off(rep: RepRef, at: datetime) -> LeadHandedOff:
    return LeadHandedOff(lead_id=LEAD, assignment_id=uuid.UUID(int=9), rep=rep,
                         routing_rule="rr", routing_reason="round robin",
                         profile=LeadProfile(email="a@b.example"), score=50, grade="A",
                         source=LeadSource(), qualified_at=at, handed_off_at=at)


def rejected(reason: str, at: datetime) -> LeadRejected:
    return LeadRejected(lead_id=LEAD, assignment_id=uuid.UUID(int=9), rep_id=ANN.id,
                        reason_code=RejectionReason(reason), rejected_at=at)


def test_a_page_view_tells_the_row_nothing_and_adds_no_touch() -> None:
    view = LeadActivity(lead_id=LEAD, activity_id=uuid.UUID(int=5), kind="page_view",
                        occurred_at=T0)
    assert facts_of(view) == {}
    plan = fold_funnel([view])
    assert (plan.rows, plan.touches, plan.closed_deals) == ({}, [], [])


def test_stages_keep_their_earliest_time_and_score_follows_its_latest_clock() -> None:
    plan = fold_funnel([scored(10, T0 + timedelta(hours=2)), created(T0 + timedelta(hours=1)),
                        scored(90, T0 + timedelta(hours=3)), scored(40, T0),
                        created(T0 + timedelta(hours=5))])
    row = plan.rows[LEAD]
    assert row["lead_at"] == T0 + timedelta(hours=1)
    assert (row["score"], row["scored_at"]) == (90, T0 + timedelta(hours=3))


def test_a_tie_on_the_clock_goes_to_the_later_event() -> None:
    plan = fold_funnel([handed_off(ANN, T0), handed_off(BOB, T0)])
    assert (plan.rows[LEAD]["rep_name"], plan.rows[LEAD]["rep_at"]) == ("Bob", T0)


def test_a_newer_profile_replaces_market_attributes_even_with_nothing() -> None:
    update = LeadUpdated(lead_id=LEAD, profile=LeadProfile(email="a@b.example", country=None),
                         changed_fields=["country"], updated_at=T0 + timedelta(days=1))
    row = fold_funnel([created(T0, country="DE"), update]).rows[LEAD]
    assert (row["country"], row["profile_at"]) == (None, T0 + timedelta(days=1))
    row = fold_funnel([update, created(T0, country="DE")]).rows[LEAD]
    assert (row["country"], row["profile_at"]) == (None, T0 + timedelta(days=1))


def test_source_keeps_the_first_value_seen() -> None:
    row = fold_funnel([created(T0, campaign=None), created(T0, campaign="webinar"),
                       created(T0, campaign="brand")]).rows[LEAD]
    assert row["campaign"] == "webinar"


def test_the_rejection_reason_is_the_earliest_rejections() -> None:
    later, earlier = rejected("no_budget", T0 + timedelta(hours=1)), rejected("spam", T0)
    for events in ([later, earlier], [earlier, later]):
        row = fold_funnel(events).rows[LEAD]
        assert (row["rejected_at"], row["rejection_reason"]) == (T0, "spam")
    tie = fold_funnel([rejected("no_budget", T0), rejected("spam", T0)]).rows[LEAD]
    assert tie["rejection_reason"] == "no_budget"


def test_a_repeated_touch_or_deal_is_kept_once_and_leads_stay_apart() -> None:
    deal = DealClosed(lead_id=LEAD, deal_id=uuid.UUID(int=7), external_id="crm-1",
                      outcome="won", amount_minor=100, currency="EUR", closed_at=T0)
    form = LeadActivity(lead_id=LEAD, activity_id=uuid.UUID(int=5), kind="form_submitted",
                        occurred_at=T0)
    plan = fold_funnel([created(T0), form, deal, form, deal, scored(5, T0, lead=OTHER)])
    assert [t["touch_id"] for t in plan.touches] == [f"created:{LEAD}", str(form.activity_id)]
    assert [d["deal_id"] for d in plan.closed_deals] == [deal.deal_id]
    assert set(plan.rows) == {LEAD, OTHER}
    assert plan.rows[LEAD]["won_at"] == plan.rows[LEAD]["opportunity_at"] == T0
    assert plan.rows[OTHER] == {"score": 5, "scored_at": T0}


def test_any_order_of_a_leads_events_folds_to_the_same_row() -> None:
    """Events carry distinct clocks in the stories, so no tie decides: every order agrees."""
    rng = random.Random(3)
    for story in generate_stories(40, seed=11):
        events = story_events(story)
        want = fold_funnel(events).rows
        orders = itertools.islice(itertools.permutations(events), 3) if len(events) < 6 else \
            (rng.sample(events, len(events)) for _ in range(5))
        for order in orders:
            assert fold_funnel(order).rows == want


def test_a_lead_closed_as_not_converted_keeps_its_earliest_closure_and_reason() -> None:
    def closed(reason: str, at: datetime) -> LeadClosed:
        return LeadClosed(lead_id=LEAD, closure_id=uuid.uuid4(), reason=reason, closed_at=at)
    later, earlier = closed("no_response", T0 + timedelta(days=1)), closed("chose_competitor", T0)
    for events in ([later, earlier], [earlier, later]):
        row = fold_funnel(events).rows[LEAD]
        assert (row["not_converted_at"], row["not_converted_reason"]) == (T0, "chose_competitor")
