"""Scoring model configuration: every condition kind, period caps, probability in the MQL
definition, requalification after rejection, and the diff between versions."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from leadloop.events.models import LeadProfile
from scoring.models.diff import diff_models
from scoring.models.templates import DEFAULT_MODEL_CONFIG
from scoring.rules.domain import (
    Activity,
    Qualification,
    ScoringModel,
    is_mql,
    next_qualification,
    score_lead,
)
from scoring.rules.model_config import (
    Disqualifier,
    EmailDomainKind,
    EngagementRule,
    FieldEquals,
    FieldIn,
    FitRule,
    MqlDefinition,
    NumberInRange,
    PeriodCap,
    ScoringModelConfig,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _profile(email: str = "pat@acme.com", **fields: Any) -> LeadProfile:
    return LeadProfile(email=email, **fields)


def _view(days_ago: float = 0, url: str = "https://acme.com/blog") -> Activity:
    return Activity(activity_id=uuid.uuid4(), kind="page_view", url=url,
                    occurred_at=NOW - timedelta(days=days_ago), event_id=str(uuid.uuid4()))


def _model(*rules: EngagementRule, fit: tuple[FitRule, ...] = (),
           half_life: float | None = None, **mql: Any) -> ScoringModel:
    config = ScoringModelConfig.model_validate({
        "fit_rules": [r.model_dump() for r in fit],
        "engagement_rules": [r.model_dump() for r in rules],
        "mql": {"min_score": 10, "grades": ["D"], **mql},
        "decay": {"half_life_days": half_life},
    })
    return ScoringModel(version=7, config=config)


def _fit_points(when: Any, profile: LeadProfile) -> int:
    model = _model(fit=(FitRule(id="fit.rule", points=10, when=when),))
    return score_lead(model, profile, [], NOW).fit_score


def test_equals_matches_custom_property_ignoring_case_and_spaces() -> None:
    rule = FieldEquals(field="properties.plan", value="enterprise")
    assert _fit_points(rule, _profile(properties={"plan": " Enterprise "})) == 10
    assert _fit_points(rule, _profile(properties={"plan": "team"})) == 0
    assert _fit_points(rule, _profile()) == 0


def test_equals_does_not_confuse_true_with_one() -> None:
    rule = FieldEquals(field="properties.trial", value=True)
    assert _fit_points(rule, _profile(properties={"trial": True})) == 10
    assert _fit_points(rule, _profile(properties={"trial": 1})) == 0


def test_in_matches_any_listed_value() -> None:
    rule = FieldIn(field="industry", values=("SaaS", "fintech"))
    assert _fit_points(rule, _profile(industry="saas")) == 10
    assert _fit_points(rule, _profile(industry="retail")) == 0


def test_range_includes_minimum_and_excludes_maximum() -> None:
    rule = NumberInRange(field="company_size", minimum=50, maximum=500)
    assert [_fit_points(rule, _profile(company_size=n)) for n in (49, 50, 499, 500)] == \
        [0, 10, 10, 0]


def test_range_with_one_open_bound_and_a_custom_numeric_property() -> None:
    rule = NumberInRange(field="properties.seats", maximum=10)
    assert _fit_points(rule, _profile(properties={"seats": 3})) == 10
    assert _fit_points(rule, _profile(properties={"seats": "3"})) == 0


def test_range_needs_sensible_bounds() -> None:
    with pytest.raises(ValidationError, match="needs a minimum, a maximum or both"):
        NumberInRange(field="company_size")
    with pytest.raises(ValidationError, match="must be below maximum"):
        NumberInRange(field="company_size", minimum=5, maximum=5)


def test_email_domain_kind_tells_free_mail_from_business() -> None:
    free, business = (EmailDomainKind(domain_kind=k) for k in ("free", "business"))
    assert _fit_points(free, _profile("jo@gmx.de")) == 10
    assert _fit_points(business, _profile("jo@gmx.de")) == 0
    assert _fit_points(business, _profile("jo@acme-corp.com")) == 10


def test_unknown_condition_kind_or_field_is_rejected() -> None:
    with pytest.raises(ValidationError):
        FitRule.model_validate({"id": "fit.x", "points": 1,
                                "when": {"kind": "python", "code": "1"}})
    with pytest.raises(ValidationError, match="not a lead field"):
        FieldEquals(field="salary", value=1)


def test_period_cap_limits_points_per_day_before_decay() -> None:
    rule = EngagementRule(id="engagement.view", activity_kind="page_view", points=2,
                          repeatable=True, period_cap=PeriodCap(points=5, days=1))
    today = [_view(0.01 * i) for i in range(10)]  # ten views within a quarter hour
    yesterday = [_view(1 + 0.01 * i) for i in range(10)]
    # NOW is noon, so both groups each fall within one calendar day.
    assert score_lead(_model(rule), _profile(), today, NOW).engagement_score == 5
    assert score_lead(_model(rule), _profile(), today + yesterday, NOW).engagement_score == 10


def test_period_cap_and_total_cap_apply_together() -> None:
    rule = EngagementRule(id="engagement.view", activity_kind="page_view", points=2,
                          repeatable=True, cap=7, period_cap=PeriodCap(points=3, days=1))

    def views(days: int) -> list[Activity]:
        return [_view(day + 0.01 * i) for day in range(days) for i in range(5)]
    assert score_lead(_model(rule), _profile(), views(2), NOW).engagement_score == 6
    assert score_lead(_model(rule), _profile(), views(3), NOW).engagement_score == 7


def test_period_cap_needs_a_repeatable_rule() -> None:
    with pytest.raises(ValidationError, match="period cap only applies to a repeatable rule"):
        EngagementRule(id="engagement.x", activity_kind="page_view", points=2,
                       period_cap=PeriodCap(points=5, days=1))


def test_once_only_rule_counts_the_newest_activity_after_decay() -> None:
    rule = EngagementRule(id="engagement.pricing", activity_kind="page_view",
                          url_contains="/pricing", points=20)
    views = [_view(30, "https://acme.com/pricing"), _view(60, "https://acme.com/pricing")]
    result = score_lead(_model(rule, half_life=30), _profile(), views, NOW)
    assert result.engagement_score == 10
    assert [c.event_id for c in result.contributions] == [views[0].event_id]


def test_url_pattern_filter_is_a_regular_expression() -> None:
    rule = EngagementRule(id="engagement.docs", activity_kind="page_view",
                          url_pattern=r"/docs/(api|sdk)", points=3)
    assert rule.matches("page_view", "https://acme.com/DOCS/api/intro")
    assert not rule.matches("page_view", "https://acme.com/docs/guide")
    assert not rule.matches("page_view", None)


def test_min_probability_applies_only_once_a_model_is_trained() -> None:
    config = ScoringModelConfig(mql=MqlDefinition(min_score=10, grades=("D",),
                                                  min_probability=0.3))
    assert is_mql(config, 20, "D", False, win_probability=None)
    assert is_mql(config, 20, "D", False, win_probability=0.3)
    assert not is_mql(config, 20, "D", False, win_probability=0.29)
    assert not is_mql(config, 5, "D", False, win_probability=0.9)


def test_rejected_lead_still_above_threshold_requalifies_on_new_activity() -> None:
    assert next_qualification(Qualification.rejected, True) == (Qualification.rejected, False)
    assert next_qualification(Qualification.rejected, True, recycled=True) == \
        (Qualification.qualified, True)
    assert next_qualification(Qualification.rejected, False, recycled=True) == \
        (Qualification.open, False)


def test_qualified_lead_is_not_qualified_again_by_more_activity() -> None:
    assert next_qualification(Qualification.qualified, True, recycled=True) == \
        (Qualification.qualified, False)


def test_diff_lists_added_removed_changed_rules_and_settings() -> None:
    old = DEFAULT_MODEL_CONFIG
    new = old.model_copy(update={
        "fit_rules": (*old.fit_rules[1:], FitRule(
            id="fit.saas", points=5, when=FieldEquals(field="industry", value="saas"))),
        "engagement_rules": tuple(r.model_copy(update={"points": 3})
                                  if r.id == "engagement.page_view" else r
                                  for r in old.engagement_rules),
        "mql": MqlDefinition(min_score=60, grades=("A",)),
    })
    diff = diff_models(old, new)
    assert [a["rule"]["id"] for a in diff["added"]] == ["fit.saas"]
    assert [r["rule"]["id"] for r in diff["removed"]] == ["fit.business_email"]
    assert diff["changed"] == [{"section": "engagement_rules", "id": "engagement.page_view",
                                "fields": {"points": {"from": 2, "to": 3}}}]
    assert [s["setting"] for s in diff["settings"]] == ["mql"]


def test_diff_of_a_version_with_itself_is_empty() -> None:
    diff = diff_models(DEFAULT_MODEL_CONFIG, DEFAULT_MODEL_CONFIG)
    assert diff == {"added": [], "removed": [], "changed": [], "settings": []}


def test_do_not_contact_property_disqualifies_a_lead_that_would_qualify() -> None:
    config = DEFAULT_MODEL_CONFIG.model_copy(update={"disqualifiers": (
        *DEFAULT_MODEL_CONFIG.disqualifiers,
        Disqualifier(id="disqualify.do_not_contact",
                     when=FieldEquals(field="properties.do_not_contact", value=True)))})
    model = ScoringModel(version=5, config=config)
    hot = {"job_title": "VP Marketing", "company_size": 200}
    assert score_lead(model, _profile(**hot), [], NOW).is_mql
    blocked = score_lead(model, _profile(**hot, properties={"do_not_contact": True}), [], NOW)
    assert not blocked.is_mql
    assert blocked.disqualification is not None
    assert blocked.disqualification.rule_id == "disqualify.do_not_contact"


@pytest.mark.parametrize(("change", "field"), [
    ({"mql": {"min_score": -41993629793173700608, "grades": []}}, ("mql", "min_score")),
    ({"engagement_rules": [{"id": "t", "activity_kind": "page_view", "points": 10**12}]},
     ("engagement_rules", 0, "points")),
    ({"engagement_rules": [{"id": "t", "activity_kind": "page_view", "points": 5,
                            "repeatable": True,
                            "period_cap": {"points": 44, "days": 1.37e308}}]},
     ("engagement_rules", 0, "period_cap", "days")),
])
def test_numbers_beyond_any_real_model_are_refused_naming_the_field(
        change: dict[str, Any], field: tuple[Any, ...]) -> None:
    """A 20-digit threshold once reached the database and answered 500; it is bad input."""
    config = {**DEFAULT_MODEL_CONFIG.model_dump(mode="json"), **change}
    with pytest.raises(ValidationError) as refused:
        ScoringModelConfig.model_validate(config)
    assert field in [error["loc"] for error in refused.value.errors()]
