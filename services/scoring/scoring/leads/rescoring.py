"""What rescoring one lead changes: the columns to store, the history row, the events. No I/O.

Shared by the event handlers (one lead) and by re-score jobs (a batch of leads), so both
decide identically: lead.scored on every change, lead.disqualified once, lead.qualified once
per qualification.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadloop.events.models import (
    ActivitySummary,
    Consent,
    EventData,
    LeadDisqualified,
    LeadExpansionQualified,
    LeadProfile,
    LeadQualified,
    LeadScored,
    LeadSource,
    ScoreContribution,
)
from scoring.learning.domain import TrainedModel, predict, raw_features
from scoring.models.in_force import ExpansionInForce
from scoring.rules.domain import (
    Activity,
    Disqualification,
    LeadScore,
    ScoringModel,
    StoredLead,
    grade_for,
    is_mql,
    next_qualification,
    score_lead,
)
from scoring.rules.engagement import EngagementTally
from scoring.rules.lead_fields import LeadFields

RECENT_ACTIVITIES = 10
"""How many recent activities lead.qualified carries for the rep."""


@dataclass
class Rescored:
    """The outcome of rescoring one lead."""

    values: dict[str, Any] = field(default_factory=dict)
    history: LeadScore | None = None
    events: list[EventData] = field(default_factory=list)
    contributions: tuple[ScoreContribution, ...] | None = None  # None: not scored


def contributions_json(contributions: Sequence[ScoreContribution]) -> list[dict[str, Any]]:
    """The `contributions` column of a score. A busy lead's explanation is stored again with
    every batch, mostly of the same contribution objects (kept by its tally and fit): each is
    turned to JSON once while it is remembered. The JSON is shared: read it, never change it."""
    out = []
    for contribution in contributions:
        known = _JSON.get(id(contribution))
        if known is None or known[0] is not contribution:
            if len(_JSON) >= _JSON_KEPT:
                _JSON.clear()
            known = _JSON[id(contribution)] = (contribution,
                                               contribution.model_dump(mode="json"))
        out.append(known[1])
    return out


# The contribution is kept with its JSON, so its id is never another's while remembered.
_JSON: dict[int, tuple[ScoreContribution, dict[str, Any]]] = {}
_JSON_KEPT = 100_000


def win_probability(model: ScoringModel, trained: TrainedModel | None, lead: LeadFields,
                    activities: list[Activity], now: datetime) -> float | None:
    """The learned model's win probability for a lead, when the version has been trained."""
    learning = model.config.learning
    if learning is None or trained is None:
        return None
    raw = raw_features(learning, lead, activities, now, model.config.decay.window_days)
    return predict(trained, raw)


def rescore(lead: StoredLead, model: ScoringModel, trained: TrainedModel | None,
            activities: list[Activity], now: datetime, *, recycled: bool = False,
            expansion: ExpansionInForce | None = None,
            engagement: EngagementTally | None = None,
            fit: Sequence[ScoreContribution] | None = None,
            contributions_in_values: bool = True) -> Rescored:
    """Score the lead at `now` from its stored state; nothing happens before its profile.
    A customer is also scored by the expansion model in force, if any. `engagement`, when
    given, tallies `activities` under `model` at `now` already, and `fit` is the lead's fit
    contributions under `model` (a batch's rescores keep both from one to the next). Without
    `contributions_in_values`, the values leave the `contributions` column out: a batch
    stores a lead's last ones only, and turns them to JSON once (`Rescored.contributions`)."""
    outcome = Rescored()
    if lead.profile is None or lead.erased or lead.merged_into is not None:
        return outcome
    fields = LeadFields(lead.profile, lead.consent, lead.source)
    probability = win_probability(model, trained, fields, activities, now)
    result = score_lead(model, lead.profile, activities, now,
                        profile_event_id=lead.profile_event_id,
                        disqualified=lead.disqualified_rule is not None,
                        win_probability=probability,
                        consent_withdrawn=lead.consent_withdrawn,
                        consent=lead.consent, source=lead.source,
                        engagement=None if engagement is None else engagement.contributions(),
                        fit=fit)
    outcome.contributions = result.contributions
    outcome.values = {"scored_at": now, "win_probability": probability}
    if contributions_in_values:
        outcome.values["contributions"] = contributions_json(result.contributions)
    if result.disqualification is not None and lead.disqualified_rule is None:
        outcome.values |= {"disqualified_rule": result.disqualification.rule_id,
                           "disqualified_reason": result.disqualification.reason,
                           "disqualified_at": now}
        outcome.events.append(LeadDisqualified(
            lead_id=lead.lead_id, rule_id=result.disqualification.rule_id,
            reason=result.disqualification.reason, model_version=model.version,
            disqualified_at=now,
        ))
    if result.summary() != lead.summary():
        outcome.values |= {"score": result.score, "fit_score": result.fit_score,
                           "engagement_score": result.engagement_score, "grade": result.grade,
                           "is_mql": result.is_mql, "model_version": result.model_version}
        outcome.history = result
        outcome.events.append(_scored_event(lead, result, now))
    qualification, qualifies = next_qualification(lead.qualification, result.is_mql, recycled)
    outcome.values["qualification"] = qualification.value
    if qualifies:
        outcome.values["qualified_at"] = now
        recent = sorted(activities, key=lambda a: a.occurred_at, reverse=True)
        outcome.events.append(_qualified_event(lead, lead.profile, result,
                                               recent[:RECENT_ACTIVITIES], now))
    if expansion is not None and lead.customer_since is not None:
        _rescore_expansion(lead, fields, expansion, activities, now, outcome)
    return outcome


def quiet_rescore(lead: StoredLead, model: ScoringModel, trained: TrainedModel | None,
                  now: datetime, *, engagement_points: int, fit_score: int,
                  disqualification: Disqualification | None,
                  recycled: bool = False, expansion: ExpansionInForce | None = None,
                  ) -> dict[str, Any] | None:
    """The values `rescore` would store when it changes nothing anyone is told of: the same
    score (no history row, no lead.scored), no qualification, no disqualification, no
    expansion score; None when it might, and `rescore` is to run. Decided from the points
    alone (`engagement_points`: the engagement score; `fit_score` and `disqualification`:
    the sum of the lead's fit contributions and its matching disqualifier), so a busy lead's
    page views that change nothing build no explanations; its contributions are those
    `rescore` gives."""
    if lead.profile is None or lead.erased or lead.merged_into is not None:
        return None
    if (model.config.learning is not None and trained is not None) \
            or (expansion is not None and lead.customer_since is not None):
        return None  # a win probability or an expansion score to work out: `rescore` does
    if disqualification is not None and lead.disqualified_rule is None:
        return None  # newly disqualified: announced
    grade = grade_for(model.config, fit_score)
    mql = is_mql(model.config, fit_score + engagement_points, grade,
                 lead.disqualified_rule is not None or disqualification is not None)
    # LeadScore.summary() of the score `rescore` would work out (no probability: None).
    summary = (fit_score + engagement_points, fit_score, engagement_points, grade, mql,
               model.version, None)
    if summary != lead.summary():
        return None
    qualification, qualifies = next_qualification(lead.qualification, mql, recycled)
    if qualifies:
        return None
    return {"scored_at": now, "win_probability": None, "qualification": qualification.value}


def _rescore_expansion(lead: StoredLead, fields: LeadFields, expansion: ExpansionInForce,
                       activities: list[Activity], now: datetime, outcome: Rescored) -> None:
    """A customer's expansion score: the expansion model over what it did since its latest
    won deal. Reaching the model's MQL definition announces it once per purchase."""
    since = lead.customer_since
    assert since is not None and lead.profile is not None  # rescore checked both
    after = [a for a in activities if a.occurred_at > since]
    probability = win_probability(expansion.model, expansion.trained, fields, after, now)
    result = score_lead(expansion.model, lead.profile, after, now,
                        profile_event_id=lead.profile_event_id, win_probability=probability,
                        consent_withdrawn=lead.consent_withdrawn, consent=lead.consent,
                        source=lead.source)
    outcome.values["expansion_score"] = result.score
    announced = lead.expansion_qualified_at is not None and lead.expansion_qualified_at >= since
    if not result.is_mql or announced:
        return
    outcome.values["expansion_qualified_at"] = now
    recent = sorted(after, key=lambda a: a.occurred_at, reverse=True)[:RECENT_ACTIVITIES]
    outcome.events.append(LeadExpansionQualified(
        lead_id=lead.lead_id, score=result.score, grade=result.grade,
        model_version=result.model_version, contributions=list(result.contributions),
        profile=lead.profile, consent=lead.consent or Consent(),
        source=lead.source or LeadSource(),
        recent_activities=[ActivitySummary(kind=a.kind, occurred_at=a.occurred_at, url=a.url)
                           for a in recent],
        customer_since=since, qualified_at=now, repeat_probability=result.win_probability))


def _scored_event(lead: StoredLead, result: LeadScore, now: datetime) -> LeadScored:
    return LeadScored(
        lead_id=lead.lead_id, score=result.score, fit_score=result.fit_score,
        engagement_score=result.engagement_score, grade=result.grade,
        model_version=result.model_version, is_mql=result.is_mql,
        contributions=list(result.contributions), scored_at=now,
        win_probability=result.win_probability,
    )


def _qualified_event(lead: StoredLead, profile: LeadProfile, result: LeadScore,
                     recent: list[Activity], now: datetime) -> LeadQualified:
    return LeadQualified(
        lead_id=lead.lead_id, score=result.score, grade=result.grade,
        model_version=result.model_version, contributions=list(result.contributions),
        profile=profile, consent=lead.consent or Consent(), source=lead.source or LeadSource(),
        recent_activities=[
            ActivitySummary(kind=a.kind, occurred_at=a.occurred_at, url=a.url) for a in recent
        ],
        qualified_at=now, win_probability=result.win_probability,
        lead_created_at=lead.created_at,
    )
