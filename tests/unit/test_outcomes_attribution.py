"""Attribution models on hand-worked examples, and conservation over generated data."""

import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction as F

import pytest

from outcomes.reports.attribution import (
    AttributeBy,
    Conversion,
    Model,
    Touch,
    attribute,
    touch_weights,
)
from tests.support.outcomes_stories import generate_stories

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LEAD = uuid.UUID(int=1)


def touches(*campaigns: str, lead: uuid.UUID = LEAD) -> list[Touch]:
    """One touch per campaign, an hour apart, all from source 'src-<campaign>'."""
    return [Touch(lead, f"t{i}", T0 + timedelta(hours=i), c, f"src-{c}")
            for i, c in enumerate(campaigns)]


def won(revenue: int, after_hours: int = 100, mql_after_hours: int | None = None,
        lead: uuid.UUID = LEAD) -> Conversion:
    mql_at = None if mql_after_hours is None else T0 + timedelta(hours=mql_after_hours)
    return Conversion(lead, 1, revenue, T0 + timedelta(hours=after_hours), mql_at)


def revenue_by_campaign(model: Model, log: list[Touch], *conversions: Conversion) -> dict:  # type: ignore[type-arg]
    report = attribute(log, conversions, model, AttributeBy.campaign)
    return {row.key: row.revenue_minor for row in report.rows}


# Four touches A, B, C, D; the lead became an MQL at B; 10,000 won.
#   first:  A 10000
#   last:   D 10000
#   linear: 2500 each
#   U:      A 40% = 4000, D 40% = 4000, B and C share 20% = 1000 each
#   W:      A, B (MQL), D 30% = 3000 each, C the remaining 10% = 1000
@pytest.mark.parametrize(("model", "expected"), [
    (Model.first_touch, {"A": 10_000}),
    (Model.last_touch, {"D": 10_000}),
    (Model.linear, {"A": 2500, "B": 2500, "C": 2500, "D": 2500}),
    (Model.u_shaped, {"A": 4000, "B": 1000, "C": 1000, "D": 4000}),
    (Model.w_shaped, {"A": 3000, "B": 3000, "C": 1000, "D": 3000}),
])
def test_four_touches_hand_worked(model: Model, expected: dict[str, int]) -> None:
    got = revenue_by_campaign(model, touches("A", "B", "C", "D"), won(10_000, mql_after_hours=1))
    assert {k: v for k, v in got.items() if v} == expected


def test_w_shaped_splits_the_ten_percent_over_every_other_touch() -> None:
    # Five touches, MQL at the third: 30/5/30/5/30.
    assert touch_weights(Model.w_shaped, 5, mql_index=2) == [
        F(3, 10), F(1, 20), F(3, 10), F(1, 20), F(3, 10)]


def test_w_shaped_adds_milestones_that_fall_on_one_touch() -> None:
    # MQL at the first touch: first + MQL = 60%, last 30%, the middle touch 10%.
    assert touch_weights(Model.w_shaped, 3, mql_index=0) == [F(6, 10), F(1, 10), F(3, 10)]


def test_w_shaped_with_only_milestones_shares_in_proportion() -> None:
    # Two touches, MQL at the first: weights 60 : 30 -> 2/3 and 1/3.
    assert touch_weights(Model.w_shaped, 2, mql_index=0) == [F(2, 3), F(1, 3)]
    # A lead that never became an MQL counts its first touch as that milestone.
    assert touch_weights(Model.w_shaped, 2, mql_index=None) == [F(2, 3), F(1, 3)]


def test_u_shaped_with_two_touches_is_half_and_half() -> None:
    assert touch_weights(Model.u_shaped, 2) == [F(1, 2), F(1, 2)]


@pytest.mark.parametrize("model", list(Model))
def test_one_touch_takes_all_credit_under_every_model(model: Model) -> None:
    assert revenue_by_campaign(model, touches("A"), won(777)) == {"A": 777}


@pytest.mark.parametrize("model", list(Model))
def test_touches_after_conversion_earn_nothing(model: Model) -> None:
    # Converted two hours after the first touch: C (hour 2) counts, D (hour 3) does not.
    got = revenue_by_campaign(model, touches("A", "B", "C", "D"), won(900, after_hours=2))
    assert "D" not in got
    assert sum(got.values()) == 900


def test_same_campaign_on_several_touches_adds_up() -> None:
    got = revenue_by_campaign(Model.linear, touches("A", "B", "A"), won(300))
    assert got == {"A": 200, "B": 100}


def test_credit_goes_to_sources_when_asked() -> None:
    report = attribute(touches("A", "B"), [won(1000)], Model.first_touch, AttributeBy.source)
    assert [(r.key, r.revenue_minor, r.won_deals) for r in report.rows] == [("src-A", 1000, 1.0)]


def test_won_deals_are_shared_as_fractions() -> None:
    report = attribute(touches("A", "B", "C"), [won(300)], Model.linear, AttributeBy.campaign)
    assert {r.key: r.won_deals for r in report.rows} == {"A": 0.3333, "B": 0.3333, "C": 0.3333}
    assert report.total_won_deals == 1


def test_win_without_a_known_touch_stays_visible() -> None:
    report = attribute([], [won(500)], Model.linear, AttributeBy.campaign)
    assert [(r.key, r.revenue_minor) for r in report.rows] == [("(none)", 500)]


def test_rows_are_ordered_by_revenue() -> None:
    other = uuid.UUID(int=2)
    log = touches("A") + touches("B", lead=other)
    report = attribute(log, [won(100), won(900, lead=other)], Model.linear, AttributeBy.campaign)
    assert [r.key for r in report.rows] == ["B", "A"]


@pytest.mark.parametrize("model", list(Model))
def test_every_model_credits_exactly_the_won_revenue(model: Model) -> None:
    stories = generate_stories(2000, seed=5)
    log, conversions = [], []
    for s in stories:
        log.append(Touch(s.lead_id, "created", s.created_at, s.campaign, s.utm_source))
        log += [Touch(s.lead_id, f"t{i}", at, c, src) for i, (at, c, src) in enumerate(s.touches)]
        if s.outcome == "won":
            conversions.append(Conversion(s.lead_id, 1, s.amount_minor, s.opened_at, s.mql_at))  # type: ignore[arg-type]
    report = attribute(log, conversions, model, AttributeBy.campaign)
    assert report.total_revenue_minor == sum(c.revenue_minor for c in conversions)
    # Rounding each row to whole cents may move at most half a cent per row.
    assert abs(sum(r.revenue_minor for r in report.rows) - report.total_revenue_minor) \
        <= len(report.rows) / 2
    assert sum(r.won_deals for r in report.rows) == pytest.approx(len(conversions), abs=1e-3)


@pytest.mark.parametrize("model", list(Model))
@pytest.mark.parametrize("count", range(1, 8))
def test_weights_sum_to_one(model: Model, count: int) -> None:
    for mql_index in (None, *range(count)):
        assert sum(touch_weights(model, count, mql_index)) == 1
