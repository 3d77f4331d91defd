"""Scoring's HTTP response models."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from leadloop.events.models import Consent, ScoreContribution
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
    win_probability: float | None = None


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
    win_probability: float | None = Field(
        description="the learned model's win probability, when the version has been trained")
    probability_shadow: bool = Field(
        description="the probability runs in shadow (learning.shadow): shown beside the score, "
                    "never holding back an MQL")
    contributions: list[ScoreContribution]
    history: list[ScorePoint]
    consent: Consent | None = Field(
        default=None, description="the lead's consent as capture last announced it")
    consent_withdrawn: list[str] = Field(
        default_factory=list, description="purposes the person withdrew consent to")


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


class ScoringModelIn(BaseModel):
    """A new model version: a name and every rule; optionally activated at once."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    config: ScoringModelConfig
    activate: bool = False


class RescoreJobOut(BaseModel):
    """Progress of re-scoring every lead (after an activation) or the engaged ones (decay)."""

    id: int
    model_version: int
    reason: str
    status: Literal["running", "done", "superseded"]
    total: int
    done: int
    started_at: datetime
    finished_at: datetime | None


class ActivationOut(BaseModel):
    """The version now active and the job re-scoring every lead under it."""

    active_version: int
    rescore_job: RescoreJobOut


class RescoreJobsOut(BaseModel):
    """A version's latest re-score jobs, newest first."""

    model_version: int
    jobs: list[RescoreJobOut]


class ModelDiffOut(BaseModel):
    """What changed from one version to another: rules by id, then settings."""

    from_version: int
    to_version: int
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    settings: list[dict[str, Any]]


class EvaluationOut(BaseModel):
    """A version's latest training: held-out AUC of rules-only vs learned, calibration, lift,
    and the learned weights in readable form."""

    model_version: int
    training_id: int
    trained_at: datetime
    deals: int
    evaluation: dict[str, Any]
