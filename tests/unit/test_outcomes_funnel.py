"""Outcomes' rules: which stage an event means, conversion math, deal changes, anonymization."""

import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from pydantic import ValidationError

from leadloop.events.models import (
    DealClosed,
    DealOpened,
    LeadAccepted,
    LeadCreated,
    LeadProfile,
    LeadScored,
)
from outcomes.deals.domain import (
    DealChange,
    DealReport,
    DealStatus,
    deal_event,
    decide_deal_change,
    new_deal,
)
from outcomes.deals.schemas import DealIn
from outcomes.funnel.domain import (
    CONVERSIONS,
    FUNNEL_ORDER,
    Stage,
    anonymous_copy,
    conversion_rate,
    funnel_report,
    stage_column,
    stages_reached,
)
from outcomes.funnel.schemas import FunnelOut

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEAD = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER_LEAD = uuid.UUID("00000000-0000-4000-8000-000000000002")


def report(status: DealStatus = DealStatus.open, **changes: Any) -> DealReport:
    values: dict[str, Any] = {"external_id": "crm-1", "lead_id": LEAD, "status": status,
                              "amount_minor": 500_000, "currency": "EUR"}
    return DealReport(**(values | changes))


def deal_in(**changes: Any) -> DealIn:
    body = {"external_id": "crm-1", "lead_id": str(LEAD), "status": "open",
            "amount_minor": 500_000, "currency": "EUR"}
    return DealIn.model_validate(body | changes)


def refused_fields(**changes: Any) -> list[str]:
    with pytest.raises(ValidationError) as info:
        deal_in(**changes)
    return [".".join(str(p) for p in error["loc"]) for error in info.value.errors()]


# --- stages --------------------------------------------------------------------------------


def test_funnel_order_runs_from_lead_to_won_and_lost() -> None:
    assert [s.value for s in FUNNEL_ORDER] == ["lead", "mql", "handed_off", "accepted",
                                               "opportunity", "won", "lost"]


def test_lead_created_means_lead_stage_at_creation_time() -> None:
    event = LeadCreated(lead_id=LEAD, profile=LeadProfile(email="a@example.com"), created_at=T0)
    assert stages_reached(event) == {Stage.lead: T0}


def test_accepted_lead_reaches_accepted_stage() -> None:
    event = LeadAccepted(lead_id=LEAD, assignment_id=uuid.uuid4(), rep_id=uuid.uuid4(),
                         accepted_at=T0)
    assert stages_reached(event) == {Stage.accepted: T0}


def test_opened_deal_makes_an_opportunity() -> None:
    event = DealOpened(lead_id=LEAD, deal_id=uuid.uuid4(), external_id="crm-1",
                       amount_minor=1, currency="EUR", opened_at=T0)
    assert stages_reached(event) == {Stage.opportunity: T0}


@pytest.mark.parametrize(("outcome", "stage"), [("won", Stage.won), ("lost", Stage.lost)])
def test_closed_deal_without_open_is_an_opportunity_and_its_outcome(outcome: str,
                                                                    stage: Stage) -> None:
    event = DealClosed(lead_id=LEAD, deal_id=uuid.uuid4(), external_id="crm-1",
                       outcome=outcome, amount_minor=1, currency="EUR",  # type: ignore[arg-type]
                       closed_at=T0)
    assert stages_reached(event) == {Stage.opportunity: T0, stage: T0}


def test_event_outside_the_funnel_reaches_no_stage() -> None:
    event = LeadScored(lead_id=LEAD, score=10, fit_score=5, engagement_score=5, grade="B",
                       model_version=1, is_mql=False, scored_at=T0)
    assert stages_reached(event) == {}


def test_every_stage_has_its_own_column() -> None:
    assert [stage_column(s) for s in FUNNEL_ORDER] == [
        "lead_at", "mql_at", "handed_off_at", "accepted_at", "opportunity_at", "won_at",
        "lost_at"]


# --- conversion ----------------------------------------------------------------------------


def test_conversion_rate_is_the_share_of_leads_that_reached_both() -> None:
    assert conversion_rate(4, 10) == 0.4
    assert conversion_rate(1, 3) == 0.3333


def test_conversion_rate_is_undefined_when_no_lead_reached_the_first_stage() -> None:
    assert conversion_rate(0, 0) is None


def test_won_and_lost_both_convert_from_opportunity() -> None:
    assert CONVERSIONS[-2:] == ((Stage.opportunity, Stage.won), (Stage.opportunity, Stage.lost))
    assert list(CONVERSIONS[:-2]) == list(pairwise(FUNNEL_ORDER[:5]))


def test_funnel_report_lists_every_stage_in_order_with_zero_for_missing() -> None:
    result = funnel_report({Stage.lead: 10, Stage.mql: 4, Stage.opportunity: 2, Stage.won: 1},
                           {(Stage.lead, Stage.mql): 4, (Stage.opportunity, Stage.won): 1})
    assert [(s.stage, s.count) for s in result.stages] == [
        (Stage.lead, 10), (Stage.mql, 4), (Stage.handed_off, 0), (Stage.accepted, 0),
        (Stage.opportunity, 2), (Stage.won, 1), (Stage.lost, 0)]
    rates = {(c.from_stage, c.to_stage): c.rate for c in result.conversion}
    assert rates[(Stage.lead, Stage.mql)] == 0.4
    assert rates[(Stage.mql, Stage.handed_off)] == 0.0
    assert rates[(Stage.handed_off, Stage.accepted)] is None
    assert rates[(Stage.opportunity, Stage.won)] == 0.5
    assert rates[(Stage.opportunity, Stage.lost)] == 0.0


def test_funnel_response_names_conversion_ends_from_and_to() -> None:
    result = funnel_report({Stage.lead: 2, Stage.mql: 1}, {(Stage.lead, Stage.mql): 1})
    body = FunnelOut.of(result, None, None).model_dump(mode="json", by_alias=True)
    assert body["conversion"][0] == {"from": "lead", "to": "mql", "rate": 0.5}
    assert body["stages"][0] == {"stage": "lead", "count": 2}


# --- deals ---------------------------------------------------------------------------------


def test_new_open_deal_is_opened_now_and_announced_as_opened() -> None:
    deal = new_deal(report(), T0)
    assert (deal.status, deal.opened_at, deal.closed_at) == (DealStatus.open, T0, None)
    event = deal_event(deal)
    assert isinstance(event, DealOpened) and event.opened_at == T0


def test_new_won_deal_closes_now_by_default_and_is_announced_as_closed() -> None:
    deal = new_deal(report(DealStatus.won), T0)
    assert (deal.opened_at, deal.closed_at) == (None, T0)
    event = deal_event(deal)
    assert isinstance(event, DealClosed) and (event.outcome, event.closed_at) == ("won", T0)


def test_same_report_again_changes_nothing() -> None:
    deal = new_deal(report(), T0)
    assert decide_deal_change(deal, report(), T0 + timedelta(hours=1)).change is \
        DealChange.unchanged


def test_closed_deal_reported_again_without_closed_at_changes_nothing() -> None:
    deal = new_deal(report(DealStatus.lost, lost_reason="price"), T0)
    later = T0 + timedelta(days=1)
    decision = decide_deal_change(deal, report(DealStatus.lost, lost_reason="price"), later)
    assert decision.change is DealChange.unchanged
    assert decision.deal.closed_at == T0


def test_open_deal_won_closes_it_with_the_given_time() -> None:
    deal = new_deal(report(), T0)
    won_at = T0 + timedelta(days=3)
    decision = decide_deal_change(deal, report(DealStatus.won, closed_at=won_at,
                                               amount_minor=600_000), won_at)
    assert decision.change is DealChange.closed
    assert (decision.deal.status, decision.deal.closed_at, decision.deal.amount_minor) == (
        DealStatus.won, won_at, 600_000)
    assert decision.deal.id == deal.id and decision.deal.opened_at == T0


def test_open_deal_amount_change_is_stored_without_announcing() -> None:
    deal = new_deal(report(), T0)
    decision = decide_deal_change(deal, report(amount_minor=1), T0)
    assert decision.change is DealChange.updated
    assert decision.deal.amount_minor == 1 and decision.deal.status is DealStatus.open


@pytest.mark.parametrize("again", [
    report(DealStatus.lost),
    report(DealStatus.open),
    report(DealStatus.won, amount_minor=1),
    report(DealStatus.won, closed_at=T0 + timedelta(days=1)),
])
def test_closed_deal_is_final(again: DealReport) -> None:
    deal = new_deal(report(DealStatus.won), T0)
    decision = decide_deal_change(deal, again, T0)
    assert decision.change is DealChange.conflict
    assert decision.reason and "already won" in decision.reason
    assert decision.deal == deal


def test_deal_never_moves_to_another_lead() -> None:
    deal = new_deal(report(), T0)
    assert decide_deal_change(deal, report(lead_id=OTHER_LEAD), T0).change is \
        DealChange.conflict


def test_deal_request_is_read_as_the_domain_report() -> None:
    assert deal_in(status="lost", lost_reason="price").report() == report(
        DealStatus.lost, lost_reason="price")


@pytest.mark.parametrize("currency", ["eur", "EU", "EURO", "€UR", "E1R"])
def test_currency_that_is_not_three_upper_case_letters_is_refused(currency: str) -> None:
    assert refused_fields(currency=currency) == ["currency"]


@pytest.mark.parametrize("status", ["won", "open"])
def test_lost_reason_on_a_deal_that_is_not_lost_is_refused(status: str) -> None:
    assert refused_fields(status=status, lost_reason="price") == ["lost_reason"]


def test_closed_at_on_an_open_deal_is_refused() -> None:
    assert refused_fields(closed_at=T0.isoformat()) == ["closed_at"]


def test_closed_at_in_the_future_is_refused() -> None:
    future = datetime.now(UTC) + timedelta(days=1)
    assert refused_fields(status="won", closed_at=future.isoformat()) == ["closed_at"]


def test_closed_at_without_time_zone_is_refused() -> None:
    assert refused_fields(status="won", closed_at="2026-11-20T10:00:00") == ["closed_at"]


def test_negative_amount_and_unknown_status_are_refused() -> None:
    assert refused_fields(amount_minor=-1) == ["amount_minor"]
    assert refused_fields(status="pending") == ["status"]


# --- erasure -------------------------------------------------------------------------------


def test_anonymous_copy_keeps_stages_and_campaign_but_not_free_text() -> None:
    row = {"lead_id": LEAD, "erased": True, "lead_at": T0, "won_at": T0, "channel": "form",
           "utm_campaign": "spring", "utm_term": "jane doe pricing", "utm_content": "email-jane"}
    anonymous_id = uuid.uuid4()
    copy = anonymous_copy(row, anonymous_id)
    assert copy is not None
    assert copy["lead_id"] == anonymous_id and copy["anonymous"] is True
    assert (copy["lead_at"], copy["won_at"], copy["channel"], copy["utm_campaign"]) == (
        T0, T0, "form", "spring")
    assert "utm_term" not in copy and "utm_content" not in copy and "erased" not in copy


def test_lead_that_reached_no_stage_leaves_no_anonymous_row() -> None:
    assert anonymous_copy({"lead_id": LEAD, "channel": "form"}, uuid.uuid4()) is None


def test_only_won_and_lost_are_closed() -> None:
    assert [s for s in DealStatus if s.is_closed] == [DealStatus.won, DealStatus.lost]
