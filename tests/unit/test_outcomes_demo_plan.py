"""The demo's plan: campaigns of different quality, engagement, sales decisions."""

import random
from collections import Counter

from outcomes.demo_plan import CAMPAIGNS, REPS, PlannedLead, decide_sales, plan_leads
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
