"""Outcomes' reports against numbers computed straight from generated lead stories."""

import statistics
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from outcomes.domain import Stage, touch_of
from outcomes.reports import (
    GroupBy,
    LeadFacts,
    Period,
    funnel_breakdown,
    period_start,
    quantile,
    score_band,
)
from outcomes.sales_reports import (
    rejection_report,
    response_bucket,
    score_calibration,
    speed_to_lead,
)
from tests.e2e.outcomes_fixtures import (
    STEPS,
    expected_band,
    expected_calibration,
    expected_funnel,
    expected_rejections,
    expected_win_rate_by_response,
    generate_stories,
    story_events,
    story_facts,
)

STORIES = generate_stories(3000, seed=11)
FACTS = [story_facts(s) for s in STORIES]


def _assert_funnel_matches(by: GroupBy | None, expected: dict[str, dict]) -> None:  # type: ignore[type-arg]
    groups = funnel_breakdown(FACTS, by, Period.week)
    assert sorted(expected) == [g.key for g in groups]
    for group in groups:
        want = expected[group.key]
        assert group.counts == want["counts"], group.key
        for step in group.steps:
            rate, count, median, p90 = want["steps"][(step.from_stage.value,
                                                      step.to_stage.value)]
            assert (step.rate, step.time.count) == (rate, count)
            assert step.time.median_s == pytest.approx(median)
            assert step.time.p90_s == pytest.approx(p90)


def test_generated_data_reaches_every_stage_and_bucket() -> None:
    # The comparisons below only mean something if the data exercises every path.
    won = sum(1 for s in STORIES if s.outcome == "won")
    assert won > 30 and sum(1 for s in STORIES if s.outcome == "lost") > 30
    assert all(leads > 10 for leads, _ in expected_win_rate_by_response(STORIES).values())


def test_funnel_of_all_leads_matches_direct_count() -> None:
    _assert_funnel_matches(None, {"all": expected_funnel(STORIES, lambda s: "all")["all"]})


@pytest.mark.parametrize(("by", "key"), [
    (GroupBy.source, lambda s: s.utm_source or "form"),
    (GroupBy.campaign, lambda s: s.campaign or "(none)"),
    (GroupBy.utm_medium, lambda s: "cpc" if s.utm_source else "(none)"),
    (GroupBy.rep, lambda s: s.rep.name if s.rep else "(none)"),
    (GroupBy.score_band, lambda s: expected_band(s.score)),
    (GroupBy.period, lambda s: (s.created_at.date()
                                - timedelta(days=s.created_at.weekday())).isoformat()),
])
def test_funnel_by_dimension_matches_direct_count(by: GroupBy, key) -> None:  # type: ignore[no-untyped-def]
    _assert_funnel_matches(by, expected_funnel(STORIES, key))


def test_funnel_steps_are_the_path_then_both_ends_of_an_opportunity() -> None:
    [group] = funnel_breakdown(FACTS, None)
    assert [(s.from_stage.value, s.to_stage.value) for s in group.steps] == STEPS


def test_win_rate_by_response_time_matches_direct_count() -> None:
    report = speed_to_lead(FACTS)
    expected = expected_win_rate_by_response(STORIES)
    assert {b.bucket: (b.leads, b.won) for b in report.to_first_contact_histogram} == expected
    for bucket in report.to_first_contact_histogram:
        assert bucket.win_rate == round(bucket.won / bucket.leads, 4)
    handed_off = [s for s in STORIES if s.handed_off_at]
    assert report.never_contacted == sum(1 for s in handed_off if s.contacted_at is None)
    assert report.to_handoff.count == len(handed_off)
    assert report.to_handoff.median_s == pytest.approx(statistics.median(
        (s.handed_off_at - s.created_at).total_seconds() for s in handed_off))  # type: ignore[operator]


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


def test_rejection_report_matches_direct_count() -> None:
    report = rejection_report(FACTS, Period.month)
    expected = expected_rejections(STORIES)
    got = {(row.key, reason): n for row in report.by_source for reason, n in row.reasons.items()}
    assert got == expected
    assert report.total == sum(expected.values())
    assert sum(row.total for row in report.by_period) == report.total
    assert [row.key for row in report.by_period] == ["2026-10-01", "2026-11-01"][
        :len(report.by_period)]


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
