"""Scoring's HTTP routes: a lead's score with its explanation, scores of many leads at once."""

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, status

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    Consent,
    LeadProfile,
    LeadSource,
    ScoreContribution,
    event_time_now,
)
from leadloop.pagination import cursor_query, limit_query
from scoring.learning import service as learning_service
from scoring.models import repository as model_repository
from scoring.models.in_force import model_version
from scoring.rules.domain import probability_in_shadow
from scoring.rules.lead_fields import LeadFields
from scoring.scores import repository
from scoring.scores.repository import ScoredLead
from scoring.scores.schemas import (
    DisqualificationOut,
    LastEventOut,
    LeadScoreOut,
    ProbabilityPart,
    ScorePoint,
    ScoresLookupIn,
    ScoresLookupOut,
    ScoreSummaryOut,
    ScoringModelOut,
    ScoringModelsOut,
)

router = APIRouter(prefix="/v1", tags=["scores"])


def last_event_of(lead: ScoredLead) -> LastEventOut | None:
    """The last event applied to a lead's row, if known (leads scored before it was kept
    show none until their next event)."""
    if lead.last_event_id is None:
        return None
    return LastEventOut(id=lead.last_event_id, type=lead.last_event_type,
                        occurred_at=lead.last_event_at)


def _fields(lead: ScoredLead) -> LeadFields:
    return LeadFields(LeadProfile.model_validate(lead.profile),
                      None if lead.consent is None else Consent.model_validate(lead.consent),
                      None if lead.source is None else LeadSource.model_validate(lead.source))


@router.get("/leads/{lead_id}/score", response_model=LeadScoreOut,
            dependencies=[Depends(require_scope("scores:read"))],
            responses={404: {"description": "No scored lead with this id"}})
async def get_lead_score(
    lead_id: UUID,
    history_limit: int = Query(100, ge=1, le=1000, description="latest score changes to list"),
    uow: UnitOfWork = Depends(unit_of_work),
) -> LeadScoreOut:
    """A lead's score, grade and MQL status, each rule's contribution, each feature's part of
    the learned probability, the last event applied, and its score history."""
    async with uow:
        conn = uow.connection
        lead = await repository.get_lead(conn, lead_id)
        # Known only from an activity (no profile yet) or erased: there is no score to show.
        if lead is None or lead.scored_at is None or lead.model_version is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no scored lead with this id")
        if lead.merged_into is not None:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"this lead was merged into {lead.merged_into}")
        history = await repository.score_history_of(conn, lead_id, history_limit)
        model = await model_version(conn, lead.model_version)
        explanation = [] if lead.win_probability is None else \
            await learning_service.explain_probability(conn, model, _fields(lead), lead_id,
                                                       event_time_now())
    disqualification = None
    if lead.disqualified_rule is not None:
        disqualification = DisqualificationOut(rule_id=lead.disqualified_rule,
                                               reason=lead.disqualified_reason,
                                               disqualified_at=lead.disqualified_at)
    return LeadScoreOut(
        lead_id=lead.lead_id, score=lead.score, fit_score=lead.fit_score,
        engagement_score=lead.engagement_score, grade=lead.grade, is_mql=lead.is_mql,
        model_version=lead.model_version, scored_at=lead.scored_at,
        qualification=lead.qualification, qualified_at=lead.qualified_at,
        disqualification=disqualification, win_probability=lead.win_probability,
        probability_shadow=probability_in_shadow(model.config),
        probability_explanation=[ProbabilityPart.model_validate(p) for p in explanation],
        last_event=last_event_of(lead),
        contributions=[ScoreContribution.model_validate(c) for c in lead.contributions],
        history=[ScorePoint.model_validate(row, from_attributes=True) for row in history],
        consent=lead.consent, consent_withdrawn=sorted(lead.consent_withdrawn),
    )


@router.post("/scores:lookup", response_model=ScoresLookupOut,
             dependencies=[Depends(require_scope("scores:read"))])
async def find_scores(body: ScoresLookupIn,
                        uow: UnitOfWork = Depends(unit_of_work)) -> ScoresLookupOut:
    """Scores of up to 1,000 leads in one call, each as of the last event applied to it (one
    query, whatever the number of ids)."""
    asked = list(dict.fromkeys(body.lead_ids))
    async with uow:
        rows = await repository.get_leads(uow.connection, asked)
    scores, not_found, merged = [], [], {}
    for lead_id in asked:
        lead = rows.get(lead_id)
        if lead is not None and lead.merged_into is not None:
            merged[lead_id] = lead.merged_into
        if lead is None or lead.scored_at is None or lead.merged_into is not None \
                or lead.erased_at is not None:
            not_found.append(lead_id)
            continue
        scores.append(ScoreSummaryOut(
            lead_id=lead_id, score=lead.score, fit_score=lead.fit_score,
            engagement_score=lead.engagement_score, grade=lead.grade, is_mql=lead.is_mql,
            model_version=lead.model_version, scored_at=lead.scored_at,
            qualification=lead.qualification, disqualified=lead.disqualified_rule is not None,
            win_probability=lead.win_probability, last_event=last_event_of(lead)))
    return ScoresLookupOut(scores=scores, not_found=not_found, merged_into=merged)


@router.get("/models", response_model=ScoringModelsOut,
            dependencies=[Depends(require_scope("admin"))])
async def list_models(limit: int = limit_query(), cursor: str | None = cursor_query(),
                      uow: UnitOfWork = Depends(unit_of_work)) -> ScoringModelsOut:
    """Every scoring model version, oldest first, and which one is active."""
    async with uow:
        rows = await repository.model_page(uow.connection, cursor, limit)
        active = await model_repository.active_model_version(uow.connection)
        expansion = await model_repository.active_model_version(uow.connection, "expansion")
    kept, next_cursor = repository.MODEL_ORDER.page(rows, limit)
    return ScoringModelsOut(
        active_version=active, active_expansion_version=expansion, next_cursor=next_cursor,
        items=[ScoringModelOut.model_validate(row, from_attributes=True) for row in kept])
