"""The demo's plan: campaigns of different quality, engagement, sales decisions."""

import random
from collections import Counter

from outcomes.demo_plan import (
    CAMPAIGNS,
    REPS,
    PlannedLead,
    decide_repeat,
    decide_sales,
    plan_leads,
)
from outcomes.sales_reports import response_bucket


def test_plan_is_the_same_for_the_same_seed_and_run_tag() -> None:
    first = [lead.body for lead in plan_leads(200, seed=1, run_tag="x")]
    assert first == [lead.body for lead in plan_leads(200, seed=1, run_tag="x")]
    assert len({body["email"] for body in first}) == 200


def test_campaigns_bring_leads_of_different_quality() -> None:
    leads = plan_leads(5000, seed=2)
    hot_share = {c.name: 0.0 for c in CAMPAIGNS}
    per_campaign = Counter(lead.campaign.name for lead in leads)
    for lead in leads:
        if lead.kind == "hot":
            hot_share[lead.campaign.name] += 1 / per_campaign[lead.campaign.name]
    assert hot_share["partner-referral"] > 3 * hot_share["ebook-giveaway"]
    assert set(per_campaign) == {c.name for c in CAMPAIGNS}


def test_warm_leads_engage_again_through_other_campaigns_and_junk_never_does() -> None:
    leads = plan_leads(2000, seed=3)
    assert all(lead.touches for lead in leads if lead.kind == "warm")
    assert not any(lead.touches for lead in leads if lead.kind == "junk")
    assert all(t["kind"] == "form_submitted" and t["source"]["utm_campaign"]
               for lead in leads for t in lead.touches)


def test_junk_is_rejected_more_often_than_hot_leads_and_fast_reps_win_more() -> None:
    rng = random.Random(4)
    leads = plan_leads(4000, seed=4)

    def decisions(kind: str, speed: str) -> list:  # type: ignore[type-arg]
        chosen = [lead for lead in leads if lead.kind == kind]
        out = []
        for lead in chosen:
            lead.rep_speed = speed  # type: ignore[assignment]
            out.append(decide_sales(lead, rng))
        return out

    def rejected(ds: list) -> float:  # type: ignore[type-arg]
        return sum(1 for d in ds if d.reject_reason) / len(ds)

    def won(ds: list) -> float:  # type: ignore[type-arg]
        return sum(1 for d in ds if d.outcome == "won") / len(ds)

    assert rejected(decisions("junk", "now")) > 3 * rejected(decisions("hot", "now"))
    assert won(decisions("hot", "now")) > won(decisions("hot", "later"))
    assert not any(d.opens_deal for d in decisions("hot", "never"))
    assert all(isinstance(lead, PlannedLead) for lead in leads)


def test_each_rep_answers_within_one_response_bucket_of_their_own() -> None:
    # So the demo's speed-to-lead histogram shows each rep's speed in a bucket of its own.
    buckets = []
    for rep in REPS:
        if rep.answers_after_s is None:
            continue
        low, high = rep.answers_after_s
        assert response_bucket(low) == response_bucket(high), rep.name
        buckets.append(response_bucket(low))
    assert buckets == ["< 5 min", "5-30 min", "30-60 min", "1-24 h"]
    assert [rep.speed for rep in REPS] == ["now", "later", "later", "later", "never"]


def _demo_customers(count: int, seed: int) -> list[PlannedLead]:
    """The won customers of a demo of `count` leads, as the run decides them (hot and warm
    leads are handed off; each rep equally often), with their repeat purchases decided."""
    sales, repeats = random.Random(seed + 1), random.Random(seed + 3)
    won = []
    for lead in plan_leads(count, seed):
        if lead.kind not in ("hot", "warm"):
            continue
        lead.rep_speed = sales.choice(REPS).speed
        lead.decision = decide_sales(lead, sales)
        if lead.decision.outcome == "won":
            lead.repeat = decide_repeat(lead, repeats)
            won.append(lead)
    return won


def test_a_share_of_won_customers_buy_again_more_from_good_campaigns_and_fits() -> None:
    customers = _demo_customers(10_000, seed=2026)
    again = [c for c in customers if c.repeat is not None]
    rate = len(again) / len(customers)
    assert 0.2 < rate < 0.5
    by_campaign = {name: [c.repeat is not None for c in customers if c.campaign.name == name]
                   for name in ("partner-referral", "ebook-giveaway")}
    assert sum(by_campaign["partner-referral"]) / len(by_campaign["partner-referral"]) > \
        2 * sum(by_campaign["ebook-giveaway"]) / max(len(by_campaign["ebook-giveaway"]), 1)
    days = sorted(c.repeat.after_days for c in again if c.repeat)
    assert 3 <= days[0] and days[-1] <= 25  # within the demo's month
    first = sum(c.decision.amount_minor for c in customers if c.decision)
    repeat = sum(c.repeat.amount_minor for c in again if c.repeat)
    assert 0 < repeat < first  # add-ons: smaller than the first purchases
