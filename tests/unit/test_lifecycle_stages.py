"""The shared lifecycle definition (leadloop.lifecycle, leadloop.accounts) and how outcomes
moves a lead along it from events (outcomes.lifecycle)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from leadloop.accounts import account_domain, is_free_mail
from leadloop.events import CloudEvent
from leadloop.events.models import (
    Actor,
    DealClosed,
    DealOpened,
    EventData,
    LeadAccepted,
    LeadActivity,
    LeadClosed,
    LeadCreated,
    LeadDisqualified,
    LeadProfile,
    LeadQualified,
    LeadScored,
    LeadSource,
    event_type_of,
)
from leadloop.handlers import Item
from leadloop.lifecycle import PATH, LifecycleStage, can_move, is_customer
from outcomes.lifecycle.domain import LeadLifecycle, plan_stages, reset

S = LifecycleStage
LEAD = uuid.uuid4()
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _item(event: EventData) -> Item[EventData]:
    return Item(event, CloudEvent(type=event_type_of(event), source="test", subject=str(LEAD),
                                  data={}, id=str(uuid.uuid4())))


def _created(channel: str = "form", at: datetime = T0) -> LeadCreated:
    return LeadCreated(lead_id=LEAD, profile=LeadProfile(email="jane@acme-corp.com"),
                       source=LeadSource(channel=channel), created_at=at)


def _won(deal_id: uuid.UUID, at: datetime) -> DealClosed:
    return DealClosed(lead_id=LEAD, deal_id=deal_id, external_id=str(deal_id), outcome="won",
                      amount_minor=1000, currency="EUR", closed_at=at)


def _qualified(at: datetime) -> LeadQualified:
    return LeadQualified(lead_id=LEAD, score=80, grade="A", model_version=1,
                         profile=LeadProfile(email="jane@acme-corp.com"), qualified_at=at)


# --- the shared rule -----------------------------------------------------------------------


def test_path_moves_only_forward() -> None:
    for n, current in enumerate(PATH):
        for m, target in enumerate(PATH):
            assert can_move(current, target) is (m > n), (current, target)


def test_customers_are_never_disqualified_or_closed_by_a_rule() -> None:
    assert can_move(S.mql, S.disqualified)
    assert can_move(S.opportunity, S.closed_not_converted)
    assert not can_move(S.customer, S.disqualified)
    assert not can_move(S.repeat_customer, S.closed_not_converted)


def test_a_closed_lead_comes_back_on_qualifying_a_disqualified_one_only_on_a_deal() -> None:
    assert not can_move(S.closed_not_converted, S.lead)
    assert can_move(S.closed_not_converted, S.mql)
    assert not can_move(S.disqualified, S.sql)
    assert can_move(S.disqualified, S.opportunity)
    assert not can_move(S.disqualified, S.closed_not_converted)


def test_is_customer() -> None:
    assert is_customer("customer") and is_customer(S.repeat_customer)
    assert not is_customer(S.opportunity) and not is_customer(None)


@pytest.mark.parametrize(("email", "account"), [
    ("jane@Acme-Corp.com", "acme-corp.com"), ("tom@acme-corp.com", "acme-corp.com"),
    ("ann@gmail.com", None), ("x@GMX.de", None), ("nobody", None), (None, None)])
def test_account_is_the_company_domain_never_a_free_mail_one(email: str | None,
                                                             account: str | None) -> None:
    assert account_domain(email) == account


def test_free_mail_list_knows_the_big_providers() -> None:
    assert all(is_free_mail(d) for d in ("gmail.com", "outlook.com", "yahoo.com", "web.de"))


# --- outcomes' fold ------------------------------------------------------------------------


def _walk(*events: EventData, stored: LeadLifecycle | None = None):  # type: ignore[no-untyped-def]
    plan = plan_stages([_item(e) for e in events], {LEAD: stored} if stored else {})
    return plan.rows.get(LEAD, stored), [(c.previous_stage, c.stage) for c in plan.changes]


def test_a_lead_walks_to_customer_then_repeat_customer_each_change_with_its_cause() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    events = [_created(at=T0), _qualified(T0 + timedelta(minutes=1)),
              LeadAccepted(lead_id=LEAD, assignment_id=uuid.uuid4(), rep_id=uuid.uuid4(),
                           accepted_at=T0 + timedelta(minutes=2)),
              DealOpened(lead_id=LEAD, deal_id=first, external_id="d1", amount_minor=1,
                         currency="EUR", opened_at=T0 + timedelta(minutes=3)),
              _won(first, T0 + timedelta(minutes=4)), _won(second, T0 + timedelta(days=30))]
    plan = plan_stages([_item(e) for e in events], {})
    assert [(c.previous_stage, c.stage) for c in plan.changes] == [
        (None, "lead"), ("lead", "mql"), ("mql", "sql"), ("sql", "opportunity"),
        ("opportunity", "customer"), ("customer", "repeat_customer")]
    assert [c.cause for c in plan.changes][-2:] == ["leadloop.deal.closed.v1"] * 2
    assert plan.changes[-1].cause_id == str(second)
    assert plan.rows[LEAD].first_won_deal_id == first


def test_the_same_won_deal_again_never_makes_a_repeat_customer() -> None:
    deal = uuid.uuid4()
    row, changes = _walk(_won(deal, T0), _won(deal, T0))
    assert row is not None and row.stage is S.customer
    assert changes == [(None, "customer")]
    again, more = _walk(_won(deal, T0), stored=row)
    assert again is not None and again.stage is S.customer and more == []


def test_late_events_of_earlier_stages_change_nothing() -> None:
    row, _ = _walk(_won(uuid.uuid4(), T0))
    _after, changes = _walk(_created(at=T0 - timedelta(days=1)), _qualified(T0), stored=row)
    assert changes == []


def test_subscriber_becomes_lead_on_a_form() -> None:
    form = LeadActivity(lead_id=LEAD, activity_id=uuid.uuid4(), kind="form_submitted",
                        occurred_at=T0 + timedelta(hours=1))
    view = LeadActivity(lead_id=LEAD, activity_id=uuid.uuid4(), kind="page_view",
                        occurred_at=T0 + timedelta(hours=1))
    _row, changes = _walk(_created("newsletter"), view, form)
    assert changes == [(None, "subscriber"), ("subscriber", "lead")]


def test_scores_tell_nothing_and_disqualification_steps_aside() -> None:
    scored = LeadScored(lead_id=LEAD, score=5, fit_score=5, engagement_score=0, grade="D",
                        model_version=1, is_mql=False, scored_at=T0)
    dq = LeadDisqualified(lead_id=LEAD, rule_id="student", reason="student", model_version=1,
                          disqualified_at=T0 + timedelta(minutes=1))
    _row, changes = _walk(_created(), scored, dq, _qualified(T0 + timedelta(minutes=2)))
    assert changes == [(None, "lead"), ("lead", "disqualified")]


def test_an_admin_reset_goes_back_and_older_causes_no_longer_count() -> None:
    deal = uuid.uuid4()
    row, _ = _walk(_created(), _won(deal, T0 + timedelta(minutes=5)))
    assert row is not None
    now = T0 + timedelta(hours=1)
    after, change = reset(row, S.lead, "refunded", Actor(name="admin"), now)
    assert (change.previous_stage, change.stage, change.reset, change.cause) == (
        "customer", "lead", True, "admin_reset")
    assert after.first_won_deal_id is None
    replayed, changes = _walk(_won(deal, T0 + timedelta(minutes=5)), stored=after)
    assert changes == [] and replayed is not None and replayed.stage is S.lead
    _again, later = _walk(_won(uuid.uuid4(), now + timedelta(days=1)), stored=after)
    assert later == [("lead", "customer")]


def test_an_erased_lead_announces_nothing() -> None:
    _row, changes = _walk(_created(), stored=LeadLifecycle(LEAD, erased=True))
    assert changes == []


def test_a_lead_closed_without_a_deal_steps_aside_and_comes_back_on_qualifying() -> None:

    closed = LeadClosed(lead_id=LEAD, closure_id=uuid.uuid4(), reason="no_response",
                        closed_at=T0 + timedelta(minutes=1))
    _row, changes = _walk(_created(), closed, _qualified(T0 + timedelta(days=9)))
    assert changes == [(None, "lead"), ("lead", "closed_not_converted"),
                       ("closed_not_converted", "mql")]
