"""Outcomes' reports against numbers computed straight from generated lead stories."""

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from outcomes.funnel.domain import Stage, touch_of
from outcomes.reports.domain import (
    GroupBy,
    LeadFacts,
    Period,
    funnel_breakdown,
    period_start,
    quantile,
    score_band,
)
from outcomes.reports.sales import (
    rejection_report,
    response_bucket,
    score_calibration,
    speed_to_lead,
)
from tests.support.outcomes_stories import (
    STEPS,
    expected_band,
    expected_calibration,
    expected_funnel,
    expected_histogram,
    expected_period,
    expected_rejections,
    expected_rejections_by_period,
    expected_speed,
    expected_win_rate_by_response,
    generate_stories,
    story_events,
    story_facts,
)

STORIES = generate_stories(3000, seed=11)
FACTS = [story_facts(s) for s in STORIES]


def _assert_funnel_matches(by: GroupBy | None, expected: dict[str, dict],  # type: ignore[type-arg]
                           period: Period = Period.week) -> None:
    groups = funnel_breakdown(FACTS, by, period)
    assert sorted(expected) == [g.key for g in groups]
    for group in groups:
        want = expected[group.key]
        assert group.counts == want["counts"], group.key
        for step in group.steps:
            rate, count, median, p90 = want["steps"][(step.from_stage.value,
                                                      step.to_stage.value)]
            assert (step.rate, step.time.count) == (rate, count), (group.key, step)
            assert step.time.median_s == pytest.approx(median), (group.key, step)
            assert step.time.p90_s == pytest.approx(p90), (group.key, step)


def test_generated_data_reaches_every_stage_and_bucket() -> None:
    # The comparisons below only mean something if the data exercises every path.
    won = sum(1 for s in STORIES if s.outcome == "won")
    assert won > 30 and sum(1 for s in STORIES if s.outcome == "lost") > 30
    assert all(leads > 10 for leads, _ in expected_win_rate_by_response(STORIES).values())
    assert all(leads > 10 for leads, _ in expected_histogram(
        STORIES, lambda s: s.created_at, lambda s: s.handed_off_at).values())


def test_generated_utm_fields_vary_and_utm_campaign_is_not_the_campaign() -> None:
    # Otherwise a report grouping by the wrong column would still pass the checks below.
    for name in ("utm_medium", "utm_campaign", "utm_term", "utm_content"):
        assert len({getattr(s, name) for s in STORIES}) >= 4, name
    assert all(s.utm_campaign != s.campaign for s in STORIES if s.utm_source)
    assert len({s.created_at.date() for s in STORIES}) == 30
    assert len({s.rejected_at.date().replace(day=1) for s in STORIES if s.rejected_at}) >= 2


def test_funnel_of_all_leads_matches_direct_count() -> None:
    _assert_funnel_matches(None, {"all": expected_funnel(STORIES, lambda s: "all")["all"]})


@pytest.mark.parametrize(("by", "key"), [
    (GroupBy.source, lambda s: s.utm_source or "form"),
    (GroupBy.campaign, lambda s: s.campaign or "(none)"),
    (GroupBy.utm_source, lambda s: s.utm_source or "(none)"),
    (GroupBy.utm_medium, lambda s: s.utm_medium or "(none)"),
    (GroupBy.utm_campaign, lambda s: s.utm_campaign or "(none)"),
    (GroupBy.utm_term, lambda s: s.utm_term or "(none)"),
    (GroupBy.utm_content, lambda s: s.utm_content or "(none)"),
    (GroupBy.rep, lambda s: s.rep.name if s.rep else "(none)"),
    (GroupBy.score_band, lambda s: expected_band(s.score)),
])
def test_funnel_by_dimension_matches_direct_count(by: GroupBy, key) -> None:  # type: ignore[no-untyped-def]
    _assert_funnel_matches(by, expected_funnel(STORIES, key))


@pytest.mark.parametrize("period", list(Period))
def test_funnel_by_period_matches_direct_count(period: Period) -> None:
    expected = expected_funnel(STORIES, lambda s: expected_period(s.created_at, period.value))
    assert len(expected) == {"day": 30, "week": 5, "month": 1}[period.value]
    _assert_funnel_matches(GroupBy.period, expected, period)


def test_funnel_steps_are_the_path_then_both_ends_of_an_opportunity() -> None:
    [group] = funnel_breakdown(FACTS, None)
    assert [(s.from_stage.value, s.to_stage.value) for s in group.steps] == STEPS


def test_speed_to_lead_matches_direct_count() -> None:
    report = speed_to_lead(FACTS)
    expected = expected_speed(STORIES)
    for name in ("to_handoff_histogram", "to_first_contact_histogram"):
        histogram = getattr(report, name)
        assert {b.bucket: (b.leads, b.won) for b in histogram} == expected[name], name
        assert [b.bucket for b in histogram] == list(expected[name]), name
        for bucket in histogram:
            assert bucket.win_rate == (round(bucket.won / bucket.leads, 4) if bucket.leads
                                       else None)
    for name in ("to_handoff", "to_first_contact"):
        count, median, p90 = expected[name]
        got = getattr(report, name)
        assert got.count == count, name
        assert got.median_s == pytest.approx(median), name
        assert got.p90_s == pytest.approx(p90), name
    assert report.never_contacted == expected["never_contacted"]


def test_fast_responses_win_more_in_generated_data() -> None:
    rates = {b.bucket: b.win_rate for b in speed_to_lead(FACTS).to_first_contact_histogram}
    assert rates["< 5 min"] > rates["> 24 h"]  # type: ignore[operator]


def test_score_calibration_matches_direct_count() -> None:
    report = score_calibration(FACTS)
    by_band = expected_calibration(STORIES, lambda s: expected_band(s.score))
    assert {r.key: (r.leads, r.opportunities, r.won) for r in report.by_band} == by_band
    assert [r.key for r in report.by_band] == sorted(
        by_band, key=lambda k: -1 if k == "< 0" else int(k.split("-")[0].rstrip("+")))
    by_mql = expected_calibration(STORIES, lambda s: "mql" if s.mql_at else "not_mql")
    assert {r.key: (r.leads, r.opportunities, r.won) for r in report.by_mql} == by_mql


@pytest.mark.parametrize("period", list(Period))
def test_rejection_report_matches_direct_count(period: Period) -> None:
    report = rejection_report(FACTS, period)
    expected = expected_rejections(STORIES)
    got = {(row.key, reason): n for row in report.by_source for reason, n in row.reasons.items()}
    assert got == expected
    assert report.total == sum(expected.values())
    assert report.reasons == dict(sorted(Counter(
        reason for (_, reason), n in expected.items() for _ in range(n)).items()))
    by_period = expected_rejections_by_period(STORIES, period.value)
    assert {(row.key, reason): n for row in report.by_period
            for reason, n in row.reasons.items()} == by_period
    assert [row.key for row in report.by_period] == sorted({p for p, _ in by_period})
    for row in report.by_period:
        assert row.total == sum(n for (p, _), n in by_period.items() if p == row.key)


# --- building blocks -----------------------------------------------------------------------


def test_quantile_interpolates_between_ranks() -> None:
    assert quantile([], 0.5) is None
    assert quantile([7], 0.9) == 7
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9) == pytest.approx(91)


@pytest.mark.parametrize(("seconds", "bucket"), [
    (0, "< 5 min"), (299.9, "< 5 min"), (300, "5-30 min"), (1799, "5-30 min"),
    (1800, "30-60 min"), (3600, "1-24 h"), (86399, "1-24 h"), (86400, "> 24 h")])
def test_response_buckets_include_their_lower_bound(seconds: float, bucket: str) -> None:
    assert response_bucket(seconds) == bucket


@pytest.mark.parametrize(("score", "band"), [
    (None, "unscored"), (-3, "< 0"), (0, "0-19"), (19, "0-19"), (20, "20-39"), (99, "80-99"),
    (100, "100+")])
def test_score_bands_are_twenty_points_wide(score: int | None, band: str) -> None:
    assert score_band(score) == band


def test_periods_start_on_the_day_monday_and_first_of_month() -> None:
    at = datetime(2026, 11, 19, 23, 59, tzinfo=UTC)  # a Thursday
    assert [period_start(at, p).isoformat() for p in Period] == [
        "2026-11-19", "2026-11-16", "2026-11-01"]


def test_time_in_stage_never_goes_negative_when_clocks_disagree() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    lead = LeadFacts(lead_id=uuid.uuid4(), lead_at=t0, mql_at=t0 - timedelta(seconds=3))
    [group] = funnel_breakdown([lead], None)
    assert group.steps[0].time.median_s == 0


def test_lead_without_source_is_grouped_under_none() -> None:
    lead = LeadFacts(lead_id=uuid.uuid4(), lead_at=datetime(2026, 11, 1, tzinfo=UTC))
    assert [g.key for g in funnel_breakdown([lead], GroupBy.campaign)] == ["(none)"]


def test_creating_form_post_and_sourced_activities_are_touches_page_views_are_not() -> None:
    story = generate_stories(40, seed=3)[0]
    touches = [t for e in story_events(story) if (t := touch_of(e)) is not None]
    assert touches[0]["touch_id"] == f"created:{story.lead_id}"
    assert len(touches) == 1 + len(story.touches)
    assert all(t["kind"] in ("created", "form_submitted") for t in touches)


def test_stage_attribute_names_match_the_funnel_stages() -> None:
    lead = LeadFacts(lead_id=uuid.uuid4(), won_at=datetime(2026, 11, 1, tzinfo=UTC))
    assert lead.reached(Stage.won) is not None and lead.reached(Stage.lost) is None
