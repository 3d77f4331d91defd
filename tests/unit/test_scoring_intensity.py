"""Engagement-intensity rules, any lead field in rules, the templates: what each gives a lead."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from leadloop.events.models import Consent, LeadProfile, LeadSource
from scoring.models.templates import B2B_TEMPLATE, B2C_TEMPLATE, DEFAULT_MODEL_CONFIG
from scoring.rules.activities import Activity, numeric_properties
from scoring.rules.domain import ScoringModel, score_lead
from scoring.rules.lead_fields import LeadFields, check_field, field_value
from scoring.rules.measures import ActivityMeasure
from scoring.rules.model_config import FieldEquals, IntensityRule, ScoringModelConfig

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PROFILE = LeadProfile(email="ann@gmail.com")


def _at(days_ago: float, kind: str = "page_view", seconds: float | None = None,
        url: str | None = None, numbers: dict[str, float] | None = None) -> Activity:
    return Activity(uuid.uuid4(), kind, NOW - timedelta(days=days_ago), url=url,
                    seconds=seconds, numbers=numbers, event_id=f"e-{uuid.uuid4()}")


def _rule(**spec: object) -> IntensityRule:
    return IntensityRule.model_validate({"id": "intensity.x", **spec})


def _score(rule: IntensityRule, activities: list[Activity]) -> int:
    model = ScoringModel(1, ScoringModelConfig.model_validate({
        "mql": {"min_score": 50, "grades": ["A"]}, "intensity_rules": [rule.model_dump()]}))
    return score_lead(model, PROFILE, activities, NOW).engagement_score


def test_time_on_site_sums_seconds_on_page_within_the_window_only() -> None:
    rule = _rule(measure="time_on_site", window_days=30,
                 bands=[{"at_least": 300, "below": 900, "points": 5},
                        {"at_least": 900, "points": 20}])
    inside = [_at(1, seconds=200), _at(10, seconds=200)]
    assert _score(rule, inside) == 5
    assert _score(rule, [*inside, _at(20, seconds=600)]) == 20
    assert _score(rule, [*inside, _at(40, seconds=6000)]) == 5  # older than the window
    assert _score(rule, [_at(2, seconds=100)]) == 0  # in no band


def test_visits_count_activities_more_than_30_minutes_apart_as_new_visits() -> None:
    rule = _rule(measure="visits", activity_kind="page_view", window_days=30,
                 bands=[{"at_least": 3, "points": 10}])
    one_visit = [_at(1 + minutes / 1440) for minutes in (0, 5, 10, 25)]
    assert _score(rule, one_visit) == 0
    three = [_at(1), _at(2), _at(3), _at(3, kind="email_opened")]
    assert _score(rule, three) == 10


def test_recency_gives_points_by_days_since_the_last_activity() -> None:
    rule = _rule(measure="days_since_last", window_days=30,
                 bands=[{"below": 3, "points": 10}, {"at_least": 3, "below": 14, "points": 5}])
    assert _score(rule, [_at(20), _at(1)]) == 10
    assert _score(rule, [_at(7)]) == 5
    assert _score(rule, [_at(20)]) == 0
    assert _score(rule, []) == 0  # never seen: no recency at all


def test_any_numeric_activity_attribute_is_summed_or_counted() -> None:
    summed = _rule(measure="sum", attribute="video_seconds", activity_kind="webinar_attended",
                   window_days=30, bands=[{"at_least": 1200, "points": 15}])
    counted = _rule(measure="count", attribute="video_seconds", window_days=30,
                    bands=[{"at_least": 2, "points": 7}])
    webinars = [_at(1, "webinar_attended", numbers={"video_seconds": 700}),
                _at(5, "webinar_attended", numbers={"video_seconds": 600}),
                _at(6, "webinar_registered")]
    assert _score(summed, webinars) == 15
    assert _score(summed, webinars[1:]) == 0
    assert _score(counted, webinars) == 7


def test_intensity_contribution_explains_the_measure_and_names_the_latest_activity() -> None:
    rule = _rule(measure="time_on_site", url_contains="/pricing", window_days=7,
                 bands=[{"at_least": 60, "points": 8}])
    latest = _at(1, seconds=50, url="https://x.com/pricing")
    model = ScoringModel(3, ScoringModelConfig.model_validate({
        "mql": {"min_score": 50, "grades": ["A"]}, "intensity_rules": [rule.model_dump()]}))
    result = score_lead(model, PROFILE, [_at(2, seconds=30, url="https://x.com/pricing"),
                                         latest, _at(1, seconds=999, url="https://x.com/")], NOW)
    [contribution] = result.contributions
    assert contribution.points == 8 and contribution.event_id == latest.event_id
    assert contribution.reason == "seconds on site at */pricing* 80 in 7 days (>= 60)"


@pytest.mark.parametrize(("spec", "message"), [
    ({"measure": "sum", "bands": [{"at_least": 1, "points": 1}]}, "needs the numeric"),
    ({"measure": "visits", "attribute": "x", "bands": [{"at_least": 1, "points": 1}]},
     "applies to the measures sum and count"),
    ({"measure": "visits", "bands": []}, "at least one band"),
    ({"measure": "visits", "bands": [{"points": 1}]}, "needs at_least, below or both"),
    ({"measure": "visits", "bands": [{"at_least": 1, "below": 5, "points": 1},
                                     {"at_least": 4, "points": 2}]}, "overlap"),
])
def test_invalid_intensity_rules_are_refused_with_the_reason(spec: dict[str, object],
                                                             message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _rule(**spec)


def test_an_intensity_window_beyond_the_activities_kept_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"must not exceed decay\.window_days"):
        ScoringModelConfig.model_validate({
            "mql": {"min_score": 1, "grades": ["A"]}, "decay": {"window_days": 30},
            "intensity_rules": [{"id": "i", "measure": "visits", "window_days": 60,
                                 "bands": [{"at_least": 1, "points": 1}]}]})


def test_activity_numbers_keep_numeric_properties_and_seconds_apart() -> None:
    seconds, numbers = numeric_properties({"seconds_on_page": 40, "video_seconds": 12,
                                           "name": "x", "flag": True})
    assert (seconds, numbers) == (40.0, {"video_seconds": 12.0})
    assert numeric_properties({"seconds_on_page": -5})[0] is None
    assert ActivityMeasure(measure="count", attribute="seconds_on_page").counts(
        _at(1, seconds=3))


# --- any lead field ----------------------------------------------------------------------------


LEAD = LeadFields(LeadProfile(email="a@b.com", properties={"plan": "pro"}),
                  Consent(email_marketing=True), LeadSource(utm_source="google"))


def test_rules_read_consent_source_and_properties() -> None:
    assert field_value(LEAD, "consent.email_marketing") is True
    assert field_value(LEAD, "source.utm_source") == "google"
    assert field_value(LEAD, "properties.plan") == "pro"
    assert field_value(LeadFields(LEAD.profile), "source.utm_source") is None
    assert FieldEquals(field="source.utm_source", value="Google").match(LEAD)
    assert FieldEquals(field="consent.email_marketing", value=True).match(LEAD)
    assert not FieldEquals(field="consent.sales_contact", value=True).match(LEAD)


def test_an_unknown_field_names_the_valid_ones_and_guesses_the_meant_one() -> None:
    with pytest.raises(ValueError, match=r"did you mean 'source.utm_source'") as error:
        check_field("utm_source")
    assert "consent.email_marketing" in str(error.value)


def test_a_refused_feature_is_the_only_error_reported() -> None:
    with pytest.raises(ValidationError) as error:
        ScoringModelConfig.model_validate({"mql": {"min_score": 1, "grades": ["A"]},
                                           "learning": {"features": [
                                               {"kind": "categorical", "field": "nope"}]}})
    assert error.value.error_count() == 1
    assert "at least 1 item" not in str(error.value)


# --- templates and the default -----------------------------------------------------------------


def test_the_default_is_the_b2b_template_and_no_default_disqualifies_students() -> None:
    assert DEFAULT_MODEL_CONFIG == B2B_TEMPLATE
    student = LeadProfile(email="s@uni.edu", job_title="PhD Student")
    for config in (B2B_TEMPLATE, B2C_TEMPLATE):
        result = score_lead(ScoringModel(3, config), student, [], NOW)
        assert result.disqualification is None


def test_webinar_attendance_scores_more_than_registration_and_decays() -> None:
    model = ScoringModel(3, DEFAULT_MODEL_CONFIG)

    def points(kind: str, days_ago: float) -> int:
        result = score_lead(model, PROFILE, [_at(days_ago, kind)], NOW)
        return sum(c.points for c in result.contributions if c.rule_id.startswith(
            "engagement.webinar"))
    assert points("webinar_attended", 0) > points("webinar_registered", 0) > 0
    assert points("webinar_attended", 60) < points("webinar_attended", 0)


def test_every_activity_kind_capture_accepts_scores_in_the_default() -> None:
    kinds = {"page_view", "form_submitted", "content_downloaded", "webinar_registered",
             "webinar_attended", "email_opened", "email_clicked", "pricing_viewed",
             "demo_requested", "call_requested"}
    assert kinds <= {rule.activity_kind for rule in DEFAULT_MODEL_CONFIG.engagement_rules}


def test_a_consumer_who_engages_and_consents_qualifies_under_b2c_not_b2b() -> None:
    profile = LeadProfile(email="ann@gmail.com", first_name="Ann", phone="+14155550100")
    consent = Consent(email_marketing=True, sales_contact=True)
    visits = [_at(days, seconds=400, url="https://x.com/plans") for days in (0.1, 2, 4, 6)]
    activities = [*visits, _at(1, "form_submitted")]
    b2c = score_lead(ScoringModel(4, B2C_TEMPLATE), profile, activities, NOW, consent=consent)
    b2b = score_lead(ScoringModel(3, B2B_TEMPLATE), profile, activities, NOW, consent=consent)
    assert b2c.is_mql and not b2b.is_mql


def test_an_explanation_shows_the_page_without_its_query_where_emails_hide() -> None:
    visit = _at(0, "pricing_viewed", url="https://acme.example/pricing?email=ann@x.com#top")
    result = score_lead(ScoringModel(3, DEFAULT_MODEL_CONFIG), PROFILE, [visit], NOW)
    reasons = [c.reason for c in result.contributions]
    assert any("(acme.example/pricing)" in reason for reason in reasons), reasons
    assert not any("ann@x.com" in reason for reason in reasons)


def test_backtest_counts_intensity_points_when_replaying_a_lead() -> None:
    from scoring.learning.backtest import ReplayLead, qualified_at

    profile = LeadProfile(email="ann@gmail.com", first_name="Ann", phone="+14155550100")
    consent = Consent(email_marketing=True, sales_contact=True)
    visits = [_at(days, seconds=400, url="https://x.com/plans") for days in (6, 4, 2, 0.1)]
    activities = [*visits, _at(1, "form_submitted")]
    activities.sort(key=lambda a: a.occurred_at)
    replay = ReplayLead(uuid.uuid4(), profile, (NOW - timedelta(days=7)).timestamp(),
                        [(a.kind, a.url, a.occurred_at.timestamp(), a.seconds)
                         for a in activities], None, consent=consent)
    model = ScoringModel(4, B2C_TEMPLATE)
    moment = qualified_at(model, replay)
    assert moment is not None
    at = datetime.fromtimestamp(moment, UTC)
    seen = [a for a in activities if a.occurred_at <= at]
    assert score_lead(model, profile, seen, at, consent=consent).is_mql
    without = ScoringModel(5, B2C_TEMPLATE.model_copy(update={"intensity_rules": ()}))
    assert qualified_at(without, replay) is None or qualified_at(without, replay) > moment
