"""Scoring's HTTP response models."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from leadloop.events.models import ScoreContribution
from scoring.rules import ScoringModelConfig


class DisqualificationOut(BaseModel):
    """The disqualifier that took a lead out of qualification, and when."""

    rule_id: str
    reason: str | None
    disqualified_at: datetime | None


class ScorePoint(BaseModel):
    """One change of a lead's score, and the event that caused it."""

    score: int
    fit_score: int
    engagement_score: int
    grade: str
    is_mql: bool
    model_version: int
    event_id: str | None
    scored_at: datetime


class LeadScoreOut(BaseModel):
    """A lead's current score, every contribution that makes it, and how it got there."""

    lead_id: UUID
    score: int
    fit_score: int
    engagement_score: int
    grade: str
    is_mql: bool
    model_version: int
    scored_at: datetime
    qualification: Literal["open", "qualified", "rejected"]
    qualified_at: datetime | None
    disqualification: DisqualificationOut | None
    contributions: list[ScoreContribution]
    history: list[ScorePoint]


class ScoringModelOut(BaseModel):
    """One version of the scoring rules."""

    version: int
    name: str
    is_active: bool
    created_at: datetime
    activated_at: datetime | None
    config: ScoringModelConfig


class ScoringModelsOut(BaseModel):
    """Every model version, and which one scores leads now."""

    active_version: int | None
    models: list[ScoringModelOut]
