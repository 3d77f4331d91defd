"""Scoring's HTTP routes."""

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, status

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.events.models import ScoreContribution
from scoring import repository
from scoring.active_model import model_version
from scoring.domain import probability_in_shadow
from scoring.schemas import (
    DisqualificationOut,
    LeadScoreOut,
    ScorePoint,
    ScoringModelOut,
    ScoringModelsOut,
)

router = APIRouter(prefix="/v1", tags=["scores"])


@router.get("/leads/{lead_id}/score", response_model=LeadScoreOut,
            dependencies=[Depends(require_scope("scores:read"))],
            responses={404: {"description": "No scored lead with this id"}})
async def get_lead_score(
    lead_id: UUID,
    history_limit: int = Query(100, ge=1, le=1000, description="latest score changes to list"),
    uow: UnitOfWork = Depends(unit_of_work),
) -> LeadScoreOut:
    """A lead's score, grade and MQL status, each rule's contribution, and its score history."""
    async with uow:
        lead = await repository.get_lead(uow.connection, lead_id)
        # Known only from an activity (no profile yet) or erased: there is no score to show.
        if lead is None or lead.scored_at is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no scored lead with this id")
        if lead.merged_into is not None:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"this lead was merged into {lead.merged_into}")
        history = await repository.score_history_of(uow.connection, lead_id, history_limit)
        model = await model_version(uow.connection, lead.model_version)
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
        contributions=[ScoreContribution.model_validate(c) for c in lead.contributions],
        history=[ScorePoint.model_validate(row, from_attributes=True) for row in history],
        consent=lead.consent, consent_withdrawn=sorted(lead.consent_withdrawn),
    )


@router.get("/models", response_model=ScoringModelsOut,
            dependencies=[Depends(require_scope("admin"))])
async def list_models(uow: UnitOfWork = Depends(unit_of_work)) -> ScoringModelsOut:
    """Every scoring model version, and which one is active."""
    async with uow:
        rows = await repository.list_models(uow.connection)
    models = [ScoringModelOut.model_validate(row, from_attributes=True) for row in rows]
    active = next((m.version for m in models if m.is_active), None)
    return ScoringModelsOut(active_version=active, models=models)
