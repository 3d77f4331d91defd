"""The demo's plan: campaigns of different quality, engagement, sales decisions."""

import random
from collections import Counter

from outcomes.demo.plan import (
    CAMPAIGNS,
    DEMO_DAYS,
    REPS,
    DemoClock,
    PlannedLead,
    decide_repeat,
    decide_sales,
    plan_leads,
)
from outcomes.reports.sales import response_bucket


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
    assert 2 <= days[0] and days[-1] <= 10  # a new purchase, within the demo's month
    first = sum(c.decision.amount_minor for c in customers if c.decision)
    repeat = sum(c.repeat.amount_minor for c in again if c.repeat)
    assert 0 < repeat < first  # add-ons: smaller than the first purchases


def _play(count: int, minutes: float, seed: int = 2026,
          handoff_lag_s: float = 20.0) -> dict[str, list[bool]]:
    """The default run's timeline as `leadloop demo` plays it (reps shrunk to fit the run,
    handed-off leads round-robined over the reps, each handed off `handoff_lag_s` after its
    post): for each call, close and repeat purchase, whether it lands before the run's end."""
    clock = DemoClock(minutes * 60)
    sales, timing, repeats = (random.Random(seed + n) for n in (1, 2, 3))
    landed: dict[str, list[bool]] = {"handed_off": [], "call": [], "close": [], "won": [],
                                     "repeat": []}
    handed_off = [lead for lead in plan_leads(count, seed) if lead.kind in ("hot", "warm")]
    for n, lead in enumerate(handed_off):
        rep = REPS[n % len(REPS)]
        lead.rep_speed = rep.speed
        lead.decision = decide_sales(lead, sales)
        landed["handed_off"].append(True)
        if lead.decision.reject_reason or rep.answers_after_s is None:
            continue
        at = (clock.posted_at_s(lead.index, count) + handoff_lag_s
              + clock.call_after_s(rep.answers_after_s, timing))
        landed["call"].append(at <= clock.run_s)
        if lead.decision.outcome is None:
            continue
        at += clock.close_after_s(timing)
        landed["close"].append(at <= clock.run_s)
        if lead.decision.outcome == "won":
            landed["won"].append(at <= clock.run_s)
            lead.repeat = decide_repeat(lead, repeats)
            if lead.repeat is not None:
                landed["repeat"].append(at + clock.repeat_after_s(lead.repeat) <= clock.run_s)
    return landed


def test_the_default_run_fits_calls_deals_and_repeats_before_its_end() -> None:
    # `make demo`: 1,000 leads in 5 minutes. A new user must see won deals and repeat customers.
    landed = _play(1000, minutes=5)
    for step in ("call", "close", "repeat"):
        assert sum(landed[step]) >= 0.95 * len(landed[step]), step
    won_share = sum(landed["won"]) / len(landed["handed_off"])
    assert 0.2 <= won_share <= 0.35  # of the leads handed off
    repeat_share = sum(landed["repeat"]) / len(landed["won"])
    assert 0.25 <= repeat_share <= 0.45  # of the won customers
    assert sum(landed["repeat"]) >= 20  # enough for the report's figures


def test_the_long_run_is_proportionate_to_the_default_one() -> None:
    short, long = _play(1000, minutes=5), _play(10_000, minutes=40)
    for step in ("call", "close", "won", "repeat"):
        assert sum(long[step]) >= 0.95 * len(long[step]), step
    for step in ("won", "repeat"):
        short_share = sum(short[step]) / len(short["handed_off"])
        long_share = sum(long[step]) / len(long["handed_off"])
        assert abs(long_share - short_share) < 0.05, step


def test_fitting_keeps_the_reps_order_and_real_time_stays_real() -> None:
    clock = DemoClock(5 * 60)
    rng = random.Random(5)
    slowest = [clock.call_after_s(rep.answers_after_s, rng) for rep in REPS
               if rep.answers_after_s for _ in range(50)]
    assert max(slowest) <= 0.15 * clock.run_s  # even Dan calls within the run's first part
    uppers = [rep.answers_after_s[1] * clock.rep_scale for rep in REPS if rep.answers_after_s]
    assert uppers == sorted(uppers)  # Ann still calls first, Dan last
    real = DemoClock(5 * 60, fit_reps=False)
    assert real.rep_scale == 1.0
    assert clock.day_s * DEMO_DAYS == clock.run_s
