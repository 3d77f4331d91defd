"""Rescoring one lead: which events go out, when; decay takes a stale lead below the line."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from leadloop.events.models import LeadDisqualified, LeadProfile, LeadQualified, LeadScored
from scoring.leads.rescoring import Rescored, rescore
from scoring.learning.domain import predict
from scoring.learning.features import LearningConfig
from scoring.models.templates import MODEL_V2_CONFIG
from scoring.rules.domain import (
    Activity,
    Qualification,
    ScoringModel,
    StoredLead,
    merged_qualification,
)
from scoring.rules.model_config import MqlDefinition

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MODEL = ScoringModel(version=1, config=MODEL_V2_CONFIG)
# Fit 40 (senior title, 120 staff, free mail): grade B, 10 short of the MQL threshold.
PROFILE = LeadProfile(email="pat@gmail.com", job_title="VP Sales", company_size=120)


def _forms(days_ago: float, count: int = 1) -> list[Activity]:
    return [Activity(activity_id=uuid.uuid4(), kind="form_submitted",
                     occurred_at=NOW - timedelta(days=days_ago), event_id=f"e{i}")
            for i in range(count)]


def _lead(**fields: object) -> StoredLead:
    return StoredLead(lead_id=uuid.uuid4(), profile=PROFILE, **fields)  # type: ignore[arg-type]


def _kinds(outcome: Rescored) -> list[type]:
    return [type(e) for e in outcome.events]


def _apply(lead: StoredLead, outcome: Rescored) -> StoredLead:
    """The lead as stored after the rescore's values are written."""
    v = outcome.values
    return replace(lead, score=v.get("score", lead.score), fit_score=v.get("fit_score",
                   lead.fit_score), engagement_score=v.get("engagement_score",
                   lead.engagement_score), grade=v.get("grade", lead.grade),
                   is_mql=v.get("is_mql", lead.is_mql),
                   model_version=v.get("model_version", lead.model_version),
                   qualification=Qualification(v["qualification"]),
                   disqualified_rule=v.get("disqualified_rule", lead.disqualified_rule))


def test_crossing_the_threshold_sends_scored_then_qualified_once() -> None:
    lead = _lead()
    first = rescore(lead, MODEL, None, _forms(0), NOW)
    assert _kinds(first) == [LeadScored, LeadQualified]
    again = rescore(_apply(lead, first), MODEL, None, _forms(0, 2), NOW)
    assert _kinds(again) == [LeadScored]  # 60: a new score, not a new qualification


def test_unchanged_score_sends_nothing() -> None:
    lead = _lead()
    first = rescore(lead, MODEL, None, [], NOW)
    assert rescore(_apply(lead, first), MODEL, None, [], NOW).events == []


def test_stale_lead_decays_below_the_threshold_and_rejection_reopens_it() -> None:
    lead = _apply(_lead(), rescore(_lead(), MODEL, None, _forms(0), NOW))
    lead = replace(lead, qualification=Qualification.rejected)
    later = NOW + timedelta(days=45)  # the form's 10 points are worth 4 after 1.5 half-lives
    outcome = rescore(lead, MODEL, None, _forms(0), later)
    assert (outcome.values["score"], outcome.values["is_mql"]) == (44, False)
    assert outcome.values["qualification"] == "open"


def test_disqualifier_sends_disqualified_once_and_blocks_qualification() -> None:
    student = replace(_lead(), profile=PROFILE.model_copy(update={"job_title": "VP Student"}))
    first = rescore(student, MODEL, None, _forms(0, 3), NOW)
    assert LeadDisqualified in _kinds(first) and LeadQualified not in _kinds(first)
    again = rescore(_apply(student, first), MODEL, None, _forms(0, 3), NOW)
    assert LeadDisqualified not in _kinds(again)


def test_withdrawn_sales_contact_consent_disqualifies_a_qualifying_lead() -> None:
    withdrawn = _lead(consent_withdrawn=frozenset({"sales_contact"}))
    outcome = rescore(withdrawn, MODEL, None, _forms(0), NOW)
    assert _kinds(outcome) == [LeadDisqualified, LeadScored]
    assert outcome.values["disqualified_rule"] == "disqualify.do_not_contact"
    assert outcome.values["is_mql"] is False


def test_no_profile_no_score() -> None:
    assert rescore(StoredLead(lead_id=uuid.uuid4()), MODEL, None, _forms(0), NOW) == Rescored()


def test_trained_probability_is_stored_and_can_hold_back_qualification() -> None:
    config = MODEL_V2_CONFIG.model_copy(update={
        "learning": LearningConfig.model_validate(
            {"features": [{"kind": "categorical", "field": "industry"}]}),
        "mql": MqlDefinition(min_score=50, grades=("A", "B"), min_probability=0.5)})
    model = ScoringModel(version=3, config=config)
    trained = {"intercept": -2.0, "terms": [
        {"feature": "industry", "kind": "categorical", "level": "saas", "weight": 4.0}]}
    retail = rescore(_lead(), model, trained, _forms(0), NOW)
    assert retail.values["win_probability"] == predict(trained, {"industry": "(missing)"})
    assert retail.values["win_probability"] < 0.5 and LeadQualified not in _kinds(retail)
    saas = replace(_lead(), profile=PROFILE.model_copy(update={"industry": "SaaS"}))
    assert LeadQualified in _kinds(rescore(saas, model, trained, _forms(0), NOW))


def _learning_model(shadow: bool) -> ScoringModel:
    config = MODEL_V2_CONFIG.model_copy(update={
        "learning": LearningConfig.model_validate(
            {"features": [{"kind": "categorical", "field": "industry"}], "shadow": shadow}),
        "mql": MqlDefinition(min_score=50, grades=("A", "B"), min_probability=0.5)})
    return ScoringModel(version=4, config=config)


# Leads without an industry get 12%; SaaS leads 88%.
SAAS_WINS = {"intercept": -2.0, "terms": [
    {"feature": "industry", "kind": "categorical", "level": "saas", "weight": 4.0}]}


def test_a_shadow_probability_below_the_minimum_does_not_hold_back_qualification() -> None:
    held = rescore(_lead(), _learning_model(shadow=False), SAAS_WINS, _forms(0), NOW)
    assert LeadQualified not in _kinds(held)
    shadow = rescore(_lead(), _learning_model(shadow=True), SAAS_WINS, _forms(0), NOW)
    assert _kinds(shadow) == [LeadScored, LeadQualified]
    probability = shadow.values["win_probability"]
    assert probability is not None and probability < 0.5  # computed and stored all the same
    scored, qualified = shadow.events
    assert isinstance(scored, LeadScored) and isinstance(qualified, LeadQualified)
    assert scored.win_probability == qualified.win_probability == probability


def test_a_new_probability_is_a_new_score_but_a_wobble_below_a_hundredth_is_not() -> None:
    model = _learning_model(shadow=True)
    lead = _apply(_lead(), rescore(_lead(), model, SAAS_WINS, _forms(0), NOW))
    lead = replace(lead, win_probability=predict(SAAS_WINS, {"industry": "(missing)"}))
    retrained = {**SAAS_WINS, "intercept": -1.0}  # same score, 27% instead of 12%
    outcome = rescore(lead, model, retrained, _forms(0), NOW)
    assert _kinds(outcome) == [LeadScored]
    assert outcome.history is not None and outcome.history.score == lead.score
    wobble = {**SAAS_WINS, "intercept": -2.0001}
    assert rescore(lead, model, wobble, _forms(0), NOW).events == []


def test_merged_leads_keep_the_furthest_qualification() -> None:
    q = Qualification
    assert merged_qualification(q.open, q.qualified) is q.qualified
    assert merged_qualification(q.rejected, q.open) is q.rejected
    assert merged_qualification(q.rejected, q.qualified) is q.qualified
    assert merged_qualification(q.open, q.open) is q.open


def test_a_lead_merged_away_is_not_scored() -> None:
    merged = replace(_lead(), merged_into=uuid.uuid4())
    assert rescore(merged, MODEL, None, _forms(0), NOW) == Rescored()
