"""Scoring rules: fit, engagement with caps and decay, disqualifiers, grades, MQL, explanation."""

import importlib.util
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from leadloop.events.models import LeadProfile
from scoring.models.templates import DEFAULT_MODEL_CONFIG, MODEL_V1_CONFIG, MODEL_V2_CONFIG
from scoring.rules.domain import (
    Activity,
    LeadScore,
    Qualification,
    ScoringModel,
    StoredLead,
    deal_features,
    decay_factor,
    grade_for,
    is_mql,
    next_qualification,
    round_half_up,
    score_lead,
)
from scoring.rules.model_config import (
    Disqualifier,
    EmailDomainIn,
    EngagementRule,
    ScoringModelConfig,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MODEL = ScoringModel(version=1, config=MODEL_V2_CONFIG)
MIGRATION = (Path(__file__).resolve().parents[2] / "services" / "scoring" / "migrations"
             / "versions" / "0001_initial.py")


def _profile(email: str = "pat@gmail.com", **fields: Any) -> LeadProfile:
    return LeadProfile(email=email, **fields)


def _activity(kind: str, days_ago: float = 0, url: str | None = None) -> Activity:
    return Activity(activity_id=uuid.uuid4(), kind=kind, url=url,
                    occurred_at=NOW - timedelta(days=days_ago), event_id=f"evt-{uuid.uuid4()}")


def _score(profile: LeadProfile | None = None, activities: list[Activity] | None = None,
           model: ScoringModel = MODEL, **kwargs: Any) -> LeadScore:
    return score_lead(model, profile or _profile(), activities or [], NOW, **kwargs)


def _points(result: LeadScore, rule_id: str) -> int:
    return sum(c.points for c in result.contributions if c.rule_id == rule_id)


def _with_competitors(*domains: str) -> ScoringModel:
    disqualifiers = tuple(
        Disqualifier(id=d.id, when=EmailDomainIn(domains=domains))
        if d.id == "disqualify.competitor" else d
        for d in MODEL_V2_CONFIG.disqualifiers
    )
    return ScoringModel(2, MODEL_V2_CONFIG.model_copy(update={"disqualifiers": disqualifiers}))


# --- the examples of the specification ------------------------------------------------------


def test_senior_business_lead_at_a_large_company_is_an_mql_at_creation() -> None:
    result = _score(_profile("jane@acme-corp.com", job_title="VP Marketing", company_size=200))
    assert (result.score, result.fit_score, result.engagement_score) == (55, 55, 0)
    assert result.grade == "A"
    assert result.is_mql


def test_free_mail_lead_without_title_is_not_an_mql() -> None:
    result = _score(_profile("jo@gmail.com"))
    assert (result.score, result.grade, result.is_mql) == (0, "D", False)


# --- fit rules ------------------------------------------------------------------------------


def test_business_email_domain_scores_15() -> None:
    assert _points(_score(_profile("pat@acme.io")), "fit.business_email") == 15


@pytest.mark.parametrize("email", [
    "a@gmail.com", "a@yahoo.com", "a@yahoo.co.uk", "a@hotmail.com", "a@outlook.com",
    "a@icloud.com", "a@aol.com", "a@proton.me", "a@gmx.de", "a@gmx.net", "a@web.de",
    "a@mail.ru", "a@yandex.ru", "a@yandex.com", "A@GMAIL.COM",
])
def test_free_mail_domains_are_not_business_email(email: str) -> None:
    assert _points(_score(_profile(email)), "fit.business_email") == 0


@pytest.mark.parametrize("email", ["a@notgmail.com", "a@gmxco.com", "a@myweb.de"])
def test_domains_that_only_resemble_free_mail_are_business_email(email: str) -> None:
    assert _points(_score(_profile(email)), "fit.business_email") == 15


@pytest.mark.parametrize("title", [
    "VP Marketing", "Vice President of Sales", "Director, IT", "Head of Growth",
    "Chief Revenue Officer", "CXO", "CEO", "cto", "CMO", "CFO", "Co-Founder", "Owner",
    "President",
])
def test_senior_job_titles_score_25(title: str) -> None:
    assert _points(_score(_profile(job_title=title)), "fit.senior_title") == 25


@pytest.mark.parametrize("title", [
    "Marketing Manager", "Doctor", "Overhead Crane Operator", "Headhunter", "Directorate Clerk",
])
def test_titles_that_only_contain_a_seniority_word_do_not_score(title: str) -> None:
    assert _points(_score(_profile(job_title=title)), "fit.senior_title") == 0


@pytest.mark.parametrize(("size", "points"), [(None, 0), (0, 0), (49, 0), (50, 15), (5000, 15)])
def test_company_of_50_or_more_scores_15(size: int | None, points: int) -> None:
    assert _points(_score(_profile(company_size=size)), "fit.company_size_50") == points


def test_phone_present_scores_5() -> None:
    assert _points(_score(_profile(phone="+4930123456")), "fit.phone") == 5
    assert _points(_score(_profile()), "fit.phone") == 0


def test_each_fit_rule_counts_once() -> None:
    result = _score(_profile("ann@acme.io", job_title="CEO and Founder, Head of Product",
                             company_size=80, phone="+4930123456"))
    assert result.fit_score == 15 + 25 + 15 + 5
    assert [c.rule_id for c in result.contributions] == [
        "fit.business_email", "fit.senior_title", "fit.company_size_50", "fit.phone"]


# --- engagement rules: repeatable, caps, once-only ------------------------------------------


def test_page_views_score_2_each() -> None:
    result = _score(activities=[_activity("page_view") for _ in range(3)])
    assert result.engagement_score == 6
    assert len(result.contributions) == 3


def test_page_views_are_capped_at_20() -> None:
    result = _score(activities=[_activity("page_view") for _ in range(15)])
    assert _points(result, "engagement.page_view") == 20
    assert len(result.contributions) == 10  # views past the cap add nothing and are not listed


def test_pricing_page_scores_15_once_on_top_of_the_page_view() -> None:
    views = [_activity("page_view", url="https://acme.io/pricing?plan=pro") for _ in range(3)]
    result = _score(activities=views)
    assert _points(result, "engagement.pricing_page") == 15
    assert _points(result, "engagement.page_view") == 6
    assert result.engagement_score == 21


def test_page_view_elsewhere_does_not_count_as_pricing() -> None:
    result = _score(activities=[_activity("page_view", url="https://acme.io/blog")])
    assert _points(result, "engagement.pricing_page") == 0


def test_once_only_rule_credits_the_newest_matching_activity() -> None:
    old = _activity("page_view", days_ago=60, url="/pricing")
    new = _activity("page_view", days_ago=0, url="/pricing")
    result = _score(activities=[old, new])
    [pricing] = [c for c in result.contributions if c.rule_id == "engagement.pricing_page"]
    assert (pricing.points, pricing.event_id) == (15, new.event_id)


@pytest.mark.parametrize(("kind", "each", "cap"), [
    ("form_submitted", 10, 30), ("email_clicked", 5, 25), ("email_opened", 1, 5),
])
def test_repeatable_activities_add_up_to_their_cap(kind: str, each: int, cap: int) -> None:
    assert _score(activities=[_activity(kind)]).engagement_score == each
    assert _score(activities=[_activity(kind) for _ in range(2)]).engagement_score == 2 * each
    many = [_activity(kind) for _ in range(cap // each + 3)]
    assert _score(activities=many).engagement_score == cap


def test_unknown_activity_kinds_score_nothing() -> None:
    assert _score(activities=[_activity("webinar_attended")]).engagement_score == 0


def test_negative_engagement_rules_subtract() -> None:
    rule = EngagementRule(id="engagement.unsubscribed", activity_kind="unsubscribed",
                          points=-10)
    config = MODEL_V2_CONFIG.model_copy(
        update={"engagement_rules": (*MODEL_V2_CONFIG.engagement_rules, rule)})
    result = _score(activities=[_activity("form_submitted"), _activity("unsubscribed")],
                    model=ScoringModel(3, config))
    assert result.engagement_score == 0


# --- decay ----------------------------------------------------------------------------------


def test_decay_factor_halves_every_half_life() -> None:
    assert decay_factor(NOW, NOW, 30) == 1.0
    assert decay_factor(NOW - timedelta(days=30), NOW, 30) == pytest.approx(0.5)
    assert decay_factor(NOW - timedelta(days=60), NOW, 30) == pytest.approx(0.25)
    assert decay_factor(NOW - timedelta(days=60), NOW, None) == 1.0


def test_engagement_points_halve_after_one_half_life() -> None:
    assert _score(activities=[_activity("form_submitted", days_ago=30)]).engagement_score == 5
    assert _score(activities=[_activity("page_view", days_ago=30,
                                        url="/pricing")]).engagement_score == 1 + 8  # 7.5 up


def test_engagement_points_quarter_after_two_half_lives() -> None:
    assert _score(activities=[_activity("email_clicked", days_ago=60)]).engagement_score == 1
    assert _score(activities=[_activity("form_submitted", days_ago=60)]).engagement_score == 3


def test_fit_points_do_not_decay() -> None:
    profile = _profile("jane@acme-corp.com", job_title="VP Marketing", company_size=200)
    later = score_lead(MODEL, profile, [], NOW + timedelta(days=365))
    assert later.fit_score == 55


def test_decayed_activities_fill_a_cap_only_in_greater_number() -> None:
    month_old = [_activity("page_view", days_ago=30) for _ in range(10)]
    assert _score(activities=month_old).engagement_score == 10
    assert _score(activities=month_old * 3).engagement_score == 20


def test_activity_stamped_in_the_future_counts_as_now() -> None:
    assert _score(activities=[_activity("form_submitted", days_ago=-2)]).engagement_score == 10


def test_activities_older_than_the_window_count_nothing() -> None:
    result = _score(activities=[_activity("form_submitted", days_ago=366)])
    assert result.engagement_score == 0
    assert result.contributions == ()


def test_without_half_life_engagement_does_not_decay() -> None:
    config = MODEL_V2_CONFIG.model_copy(
        update={"decay": MODEL_V2_CONFIG.decay.model_copy(update={"half_life_days": None})})
    result = _score(activities=[_activity("form_submitted", days_ago=90)],
                    model=ScoringModel(4, config))
    assert result.engagement_score == 10


def test_decayed_contributions_are_whole_points_that_sum_to_the_rule_total() -> None:
    views = [_activity("page_view", days_ago=45) for _ in range(3)]  # 3 x 0.71 = 2.12
    result = _score(activities=views)
    assert result.engagement_score == 2
    assert [c.points for c in result.contributions] == [1, 1]


def test_round_half_up() -> None:
    assert [round_half_up(v) for v in (0.5, 1.5, 2.5, 2.49, -2.5)] == [1, 2, 3, 2, -3]


# --- disqualifiers --------------------------------------------------------------------------


@pytest.mark.parametrize("title", ["Student", "PhD student", "Marketing Intern", "INTERN"])
def test_students_and_interns_are_disqualified(title: str) -> None:
    result = _score(_profile(job_title=title))
    assert result.disqualification is not None
    assert result.disqualification.rule_id == "disqualify.student"
    assert title in result.disqualification.reason


@pytest.mark.parametrize("title", ["Internal Audit Lead", "International Sales", "Studio Head"])
def test_titles_that_only_contain_student_or_intern_are_not_disqualified(title: str) -> None:
    assert _score(_profile(job_title=title)).disqualification is None


def test_competitor_list_is_empty_by_default() -> None:
    assert _score(_profile("jane@rival.com")).disqualification is None


def test_competitor_domains_disqualify_even_a_top_lead() -> None:
    model = _with_competitors("rival.com")
    for email in ("jane@rival.com", "jane@eu.rival.com"):
        result = _score(_profile(email, job_title="VP Marketing", company_size=200), model=model)
        assert (result.score, result.grade) == (55, "A")
        assert result.disqualification is not None
        assert result.disqualification.rule_id == "disqualify.competitor"
        assert not result.is_mql


def test_withdrawn_sales_contact_consent_is_do_not_contact() -> None:
    profile = _profile("jane@acme-corp.com", job_title="VP Marketing", company_size=200)
    model = ScoringModel(2, MODEL_V2_CONFIG)
    withdrawn = score_lead(model, profile, [], NOW, consent_withdrawn=frozenset({"sales_contact"}))
    assert withdrawn.disqualification is not None
    assert withdrawn.disqualification.rule_id == "disqualify.do_not_contact"
    assert withdrawn.disqualification.reason == "consent to sales_contact withdrawn"
    assert (withdrawn.score, withdrawn.grade, withdrawn.is_mql) == (55, "A", False)
    # Never asked (most leads) or only unsubscribed from marketing email: still qualifies.
    for other in (frozenset(), frozenset({"email_marketing"})):
        result = score_lead(model, profile, [], NOW, consent_withdrawn=other)
        assert result.disqualification is None and result.is_mql


def test_an_earlier_disqualification_stands_when_no_rule_matches_any_more() -> None:
    profile = _profile("jane@acme-corp.com", job_title="VP Marketing", company_size=200)
    result = _score(profile, disqualified=True)
    assert result.disqualification is None
    assert not result.is_mql


# --- grades and MQL -------------------------------------------------------------------------


@pytest.mark.parametrize(("fit", "grade"), [
    (100, "A"), (50, "A"), (49, "B"), (35, "B"), (34, "C"), (20, "C"), (19, "D"), (0, "D"),
])
def test_grade_comes_from_fit_thresholds(fit: int, grade: str) -> None:
    assert grade_for(MODEL_V2_CONFIG, fit) == grade


def test_engagement_does_not_raise_the_grade() -> None:
    busy = [_activity("form_submitted") for _ in range(3)] + [_activity("email_clicked")] * 5
    result = _score(activities=busy)
    assert (result.score, result.grade, result.is_mql) == (55, "D", False)


@pytest.mark.parametrize(("score", "grade", "mql"), [
    (50, "A", True), (50, "B", True), (49, "A", False), (90, "C", False), (90, "D", False),
])
def test_mql_needs_a_score_of_50_and_grade_a_or_b(score: int, grade: str, mql: bool) -> None:
    assert is_mql(MODEL_V2_CONFIG, score, grade, disqualified=False) is mql


def test_grade_b_lead_becomes_an_mql_through_engagement() -> None:
    profile = _profile("sam@acme.io", job_title="Director of Ops")  # 40, grade B
    assert not _score(profile).is_mql
    result = _score(profile, [_activity("form_submitted")])
    assert (result.score, result.grade, result.is_mql) == (50, "B", True)


# --- explanations ---------------------------------------------------------------------------


def test_contributions_explain_the_whole_score_and_name_their_cause() -> None:
    profile = _profile("jane@acme-corp.com", job_title="VP Marketing", company_size=200)
    form = _activity("form_submitted", days_ago=30)
    result = _score(profile, [form], profile_event_id="evt-created")
    assert sum(c.points for c in result.contributions) == result.score == 60
    assert {c.model_version for c in result.contributions} == {1}
    by_rule = {c.rule_id: c for c in result.contributions}
    assert by_rule["fit.senior_title"].event_id == "evt-created"
    assert "VP Marketing" in by_rule["fit.senior_title"].reason
    assert "acme-corp.com" in by_rule["fit.business_email"].reason
    assert "200" in by_rule["fit.company_size_50"].reason
    decayed = by_rule["engagement.form_submitted"]
    assert decayed.event_id == form.event_id
    assert "30 days ago" in decayed.reason and "50%" in decayed.reason


def test_reaching_a_cap_is_explained() -> None:
    result = _score(activities=[_activity("email_opened") for _ in range(5)])
    assert "cap reached" in result.contributions[-1].reason
    assert all("cap reached" not in c.reason for c in result.contributions[:-1])


# --- qualification --------------------------------------------------------------------------


def test_becoming_an_mql_qualifies_once() -> None:
    assert next_qualification(Qualification.open, False) == (Qualification.open, False)
    assert next_qualification(Qualification.open, True) == (Qualification.qualified, True)
    assert next_qualification(Qualification.qualified, True) == (Qualification.qualified, False)
    assert next_qualification(Qualification.qualified, False) == (Qualification.qualified, False)


def test_rejected_lead_qualifies_again_only_after_crossing_the_threshold_anew() -> None:
    state, sent = next_qualification(Qualification.rejected, True)
    assert (state, sent) == (Qualification.rejected, False)  # still above: not handed back
    state, sent = next_qualification(state, False)
    assert (state, sent) == (Qualification.open, False)
    assert next_qualification(state, True) == (Qualification.qualified, True)


# --- the model as data ----------------------------------------------------------------------


def _migration(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"scoring_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return migration


def test_migrations_seed_exactly_the_default_models() -> None:
    assert ScoringModelConfig.model_validate(_migration(MIGRATION).MODEL_V1) == MODEL_V1_CONFIG
    v2 = _migration(MIGRATION.with_name("0005_do_not_contact.py")).MODEL_V2
    assert ScoringModelConfig.model_validate(v2) == MODEL_V2_CONFIG
    v3 = _migration(MIGRATION.with_name("0006_templates_outcomes.py")).MODEL_V3
    assert ScoringModelConfig.model_validate(v3) == DEFAULT_MODEL_CONFIG


def test_model_config_round_trips_through_json() -> None:
    stored = DEFAULT_MODEL_CONFIG.model_dump(mode="json")
    assert ScoringModelConfig.model_validate(stored) == DEFAULT_MODEL_CONFIG


def test_grades_are_kept_highest_threshold_first() -> None:
    config = ScoringModelConfig.model_validate({
        "mql": {"min_score": 1, "grades": ["A"]},
        "grades": [{"grade": "C", "min_fit": 10}, {"grade": "A", "min_fit": 30}],
    })
    assert [g.grade for g in config.grades] == ["A", "C"]
    assert grade_for(config, 40) == "A"


@pytest.mark.parametrize(("change", "message"), [
    ({"fit_rules": [{"id": "x", "points": 1,
                     "when": {"kind": "field_matches", "field": "job_title", "pattern": "("}}]},
     r"missing \)"),
    ({"fit_rules": [{"id": "x", "points": 1,
                     "when": {"kind": "field_present", "field": "shoe_size"}}]},
     "not a lead field"),
    ({"engagement_rules": [{"id": "x", "activity_kind": "a", "points": 1, "cap": 5}]},
     "cap only applies"),
    ({"engagement_rules": [{"id": "x", "activity_kind": "a", "points": 1},
                           {"id": "x", "activity_kind": "b", "points": 1}]},
     "unique"),
    ({"fit_rules": [{"id": "x", "points": 1, "when": {"kind": "astrology"}}]}, "kind"),
    # Consent disqualifies; it is not a fit that earns points.
    ({"fit_rules": [{"id": "x", "points": 1, "when": {"kind": "consent_withdrawn",
                                                       "purpose": "sales_contact"}}]}, "kind"),
    ({"disqualifiers": [{"id": "x", "when": {"kind": "consent_withdrawn",
                                               "purpose": "phone_calls"}}]}, "purpose"),
])
def test_invalid_model_configs_are_rejected(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScoringModelConfig.model_validate({"mql": {"min_score": 1, "grades": ["A"]}, **change})


def test_custom_properties_can_be_scored() -> None:
    config = ScoringModelConfig.model_validate({
        "mql": {"min_score": 1, "grades": ["A"]},
        "fit_rules": [{"id": "fit.budget", "points": 10, "when": {
            "kind": "number_at_least", "field": "properties.budget", "minimum": 10000}}],
    })
    model = ScoringModel(5, config)
    assert _score(_profile(properties={"budget": 25000}), model=model).fit_score == 10
    assert _score(_profile(properties={"budget": "lots"}), model=model).fit_score == 0


def test_deal_features_snapshot_what_scoring_knew() -> None:
    lead = StoredLead(
        lead_id=uuid.uuid4(),
        profile=_profile("jane@acme-corp.com", job_title="VP Marketing", company_size=200),
        score=60, fit_score=55, engagement_score=5, grade="A", is_mql=True, model_version=1,
    )
    features = deal_features(lead, {"page_view": 3, "email_opened": 1})
    assert features["email_domain"] == "acme-corp.com"
    assert (features["score"], features["grade"], features["model_version"]) == (60, "A", 1)
    assert features["activity_counts"] == {"email_opened": 1, "page_view": 3}
    assert deal_features(StoredLead(lead_id=lead.lead_id), {})["email_domain"] is None
