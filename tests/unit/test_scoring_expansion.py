"""Expansion models: a customer's engagement since its latest won deal is scored by the active
expansion model and announced once per purchase; the model learns from repeat deals."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from leadloop.events.models import LeadExpansionQualified, LeadProfile, LeadQualified
from scoring.leads.rescoring import rescore
from scoring.learning.domain import predict, train
from scoring.learning.expansion import Purchase, repeat_examples
from scoring.learning.features import LearningConfig
from scoring.models.in_force import ExpansionInForce
from scoring.models.templates import MODEL_V2_CONFIG
from scoring.rules.domain import Activity, Qualification, ScoringModel, StoredLead
from scoring.rules.lead_fields import LeadFields
from scoring.rules.model_config import ScoringModelConfig

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
QUALIFICATION = ScoringModel(version=1, config=MODEL_V2_CONFIG)
# Two pricing-page visits since the purchase make a customer ready to buy again.
EXPANSION_CONFIG = ScoringModelConfig.model_validate({
    "kind": "expansion", "repeat_window_days": 90,
    "engagement_rules": [{"id": "pricing", "activity_kind": "page_view",
                          "url_contains": "/pricing", "points": 30, "repeatable": True}],
    "mql": {"min_score": 50, "grades": ["A", "B", "C", "D"]}, "decay": {"half_life_days": None},
    "learning": {"features": [{"kind": "activity_count", "activity_kind": "page_view"}],
                 "min_outcomes": 10},
})
EXPANSION = ExpansionInForce(ScoringModel(version=7, config=EXPANSION_CONFIG), None)
PROFILE = LeadProfile(email="jane@acme-corp.example", job_title="VP Sales", company_size=120)
WON_AT = NOW - timedelta(days=20)


def _pricing(days_ago: float) -> Activity:
    return Activity(activity_id=uuid.uuid4(), kind="page_view",
                    url="https://widgets.example/pricing",
                    occurred_at=NOW - timedelta(days=days_ago), event_id="e")


def _customer(**fields: object) -> StoredLead:
    return StoredLead(lead_id=uuid.uuid4(), profile=PROFILE,  # type: ignore[arg-type]
                      qualification=Qualification.qualified, customer_since=WON_AT, **fields)


def test_a_customers_engagement_since_its_purchase_announces_expansion_once() -> None:
    lead = _customer()
    # Visits before the purchase are the old deal's: they do not count.
    before = rescore(lead, QUALIFICATION, None, [_pricing(30), _pricing(25)], NOW,
                     expansion=EXPANSION)
    assert before.values["expansion_score"] == 0
    assert not [e for e in before.events if isinstance(e, LeadExpansionQualified)]
    after = rescore(lead, QUALIFICATION, None, [_pricing(3), _pricing(1)], NOW,
                    expansion=EXPANSION)
    [event] = [e for e in after.events if isinstance(e, LeadExpansionQualified)]
    assert (event.score, event.model_version, event.customer_since) == (60, 7, WON_AT)
    assert [c.rule_id for c in event.contributions] == ["pricing", "pricing"]
    assert not [e for e in after.events if isinstance(e, LeadQualified)]  # never a new MQL
    announced = replace(lead, expansion_qualified_at=after.values["expansion_qualified_at"])
    again = rescore(announced, QUALIFICATION, None, [_pricing(3), _pricing(1), _pricing(0)],
                    NOW, expansion=EXPANSION)
    assert not [e for e in again.events if isinstance(e, LeadExpansionQualified)]
    # A new purchase starts over (scoring clears the announcement): the next rise is
    # announced again.
    bought_again = replace(announced, customer_since=NOW - timedelta(days=2),
                           expansion_qualified_at=None)
    fresh = rescore(bought_again, QUALIFICATION, None, [_pricing(1), _pricing(0)], NOW,
                    expansion=EXPANSION)
    assert [type(e) for e in fresh.events if isinstance(e, LeadExpansionQualified)] == \
        [LeadExpansionQualified]


def test_a_prospect_or_a_stack_without_an_expansion_model_gets_no_expansion_score() -> None:
    prospect = StoredLead(lead_id=uuid.uuid4(), profile=PROFILE)
    assert "expansion_score" not in rescore(prospect, QUALIFICATION, None, [_pricing(1)], NOW,
                                            expansion=EXPANSION).values
    assert "expansion_score" not in rescore(_customer(), QUALIFICATION, None, [_pricing(1)],
                                            NOW).values


def test_model_kind_is_qualification_by_default_and_closed() -> None:
    assert MODEL_V2_CONFIG.kind == "qualification"
    with pytest.raises(ValidationError, match="kind"):
        ScoringModelConfig.model_validate({**EXPANSION_CONFIG.model_dump(), "kind": "upsell"})


def _purchase(lead: uuid.UUID, days_ago: float) -> Purchase:
    return Purchase(lead, NOW - timedelta(days=days_ago), LeadFields(PROFILE, None, None))


def test_a_purchase_is_labelled_by_a_repeat_within_the_window_and_open_windows_wait() -> None:
    repeat, once, recent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    purchases = [_purchase(repeat, 200), _purchase(repeat, 150),  # bought again 50 days later
                 _purchase(once, 300),                             # never again
                 _purchase(recent, 10)]                            # window still open
    activities = {repeat: [_pricing(190), _pricing(160), _pricing(100)]}
    examples = repeat_examples(EXPANSION.model, purchases, activities, NOW)
    labels = sorted((e.lead_id == repeat, e.won, e.raw["activity_count.page_view"])
                    for e in examples)
    # The first purchase repeated (two visits before the repeat); the repeat itself did not
    # repeat in its 90 days (one visit); the single purchase did not; the recent one waits.
    assert labels == [(False, False, 0.0), (True, False, 1.0), (True, True, 2.0)]


def test_an_expansion_model_trains_on_repeat_deals() -> None:
    purchases, activities = [], {}
    for i in range(40):
        lead = uuid.uuid4()
        purchases.append(_purchase(lead, 300))
        engaged = i % 2 == 0
        if engaged:  # engaged customers buy again
            purchases.append(_purchase(lead, 250))
        activities[lead] = [_pricing(300 - d) for d in range(1, 4 if engaged else 2)]
    learning = EXPANSION_CONFIG.learning
    assert isinstance(learning, LearningConfig)
    examples = repeat_examples(EXPANSION.model, purchases, activities, NOW)
    trained = train(learning, examples)
    assert trained["evaluation"]["outcomes_by_kind"] == {"no_repeat": 40, "repeat": 20}
    # More visits after a purchase, more likely to buy again.
    assert predict(trained["model"], {"activity_count.page_view": 3.0}) > \
        predict(trained["model"], {"activity_count.page_view": 1.0})
