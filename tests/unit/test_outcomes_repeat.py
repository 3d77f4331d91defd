"""Repeat customers (outcomes.repeat): rate with its interval, time to the second purchase,
first / repeat revenue per customer, by group, with the market breakdown's sample discipline."""

import uuid
from datetime import UTC, datetime, timedelta

from outcomes.reports.domain import LeadFacts
from outcomes.reports.markets import Signal
from outcomes.reports.repeat import RepeatBy, WonDeal, repeat_report

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _lead(campaign: str, rep: str = "Ann") -> LeadFacts:
    return LeadFacts(lead_id=uuid.uuid4(), lead_at=T0, campaign=campaign, rep_name=rep)


def _deal(lead: LeadFacts, days: float, amount: int, currency: str = "EUR") -> WonDeal:
    return WonDeal(uuid.uuid4(), lead.lead_id, amount, currency, T0 + timedelta(days=days))


def test_second_won_deal_makes_a_repeat_purchase_and_splits_revenue() -> None:
    a, b, c, never = _lead("spring"), _lead("spring"), _lead("fall", "Bob"), _lead("fall")
    deals = [_deal(a, 1, 1000), _deal(a, 31, 500), _deal(a, 61, 500),
             _deal(b, 2, 3000), _deal(c, 3, 2000), _deal(c, 13, 1000)]
    report = repeat_report([a, b, c, never], reversed(deals), RepeatBy.campaign, min_sample=2)
    overall = report.overall
    assert (overall.customers, overall.repeat_customers, overall.purchases,
            overall.repeat_purchases) == (3, 2, 6, 3)
    assert overall.repeat_purchase_rate == round(2 / 3, 4)
    assert overall.days_to_second_median == 20.0  # 30 and 10 days
    assert overall.first_revenue_per_customer_minor == 2000  # (1000 + 3000 + 2000) / 3
    assert overall.repeat_revenue_per_customer_minor == 667  # (500 + 500 + 1000) / 3
    spring = next(r for r in report.rows if r.key == "spring")
    assert (spring.customers, spring.repeat_customers, spring.small_sample) == (2, 1, False)
    fall = next(r for r in report.rows if r.key == "fall")
    assert (fall.customers, fall.repeat_customers, fall.small_sample) == (1, 1, True)
    assert report.currency == "EUR"


def test_groups_by_rep_and_flags_small_samples_like_markets() -> None:
    leads = [_lead("x", rep="Ann") for _ in range(40)] + [_lead("x", rep="Bob")
                                                         for _ in range(3)]
    deals = [_deal(lead, 1, 100) for lead in leads]
    deals += [_deal(lead, 9, 100) for lead in leads[:38]]  # Ann's customers nearly all repeat
    report = repeat_report(leads, deals, RepeatBy.rep)
    ann, bob = report.rows
    assert (ann.key, ann.small_sample, bob.key, bob.small_sample) == ("Ann", False, "Bob", True)
    assert bob.repeat_purchase_rate == 0.0 and bob.signal is Signal.below
    assert ann.ci_low is not None and ann.ci_low <= ann.repeat_purchase_rate <= ann.ci_high


def test_revenue_is_in_one_currency_and_no_customers_means_no_rates() -> None:
    a = _lead("x")
    report = repeat_report([a], [_deal(a, 1, 100, "USD"), _deal(a, 2, 900, "EUR")],
                           RepeatBy.campaign)
    assert report.currency == "EUR"
    assert report.overall.first_revenue_per_customer_minor == 0  # the first was in USD
    assert report.overall.repeat_revenue_per_customer_minor == 900
    empty = repeat_report([_lead("y")], [], RepeatBy.source)
    assert empty.overall.customers == 0 and empty.overall.repeat_purchase_rate is None
    assert empty.currency is None and empty.rows == []
