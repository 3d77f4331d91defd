"""Scoring's HTTP response models."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadloop.events.models import Consent, ScoreContribution
from leadloop.pagination import Page
from scoring.models.templates import TEMPLATES
from scoring.rules.model_config import ModelKind, ScoringModelConfig

TemplateName = Literal["b2b", "b2c"]


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


class LastEventOut(BaseModel):
    """The last event scoring applied to the lead: the score is as of this event."""

    id: str = Field(description="the event's CloudEvents id")
    type: str = Field(description="e.g. leadloop.lead.activity.v1")
    occurred_at: datetime = Field(description="when it happened (the event's own time)")


class ProbabilityPart(BaseModel):
    """One feature's part of the learned probability: the log-odds it adds for this lead."""

    feature: str
    value: str | float | None
    terms: str = Field(description="the model terms the value falls in, e.g. a bin")
    log_odds: float


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
    probability_explanation: list[ProbabilityPart] = Field(
        default_factory=list, description="each feature's part of win_probability, largest "
        "first (log-odds added to the model's intercept)")
    last_event: LastEventOut | None = Field(
        description="the last event applied: the score is as of it")
    contributions: list[ScoreContribution]
    history: list[ScorePoint]
    consent: Consent | None = Field(
        default=None, description="the lead's consent as capture last announced it")
    consent_withdrawn: list[str] = Field(
        default_factory=list, description="purposes the person withdrew consent to")


class ScoreSummaryOut(BaseModel):
    """A lead's current score, as of the last event applied (no contributions or history)."""

    lead_id: UUID
    score: int
    fit_score: int
    engagement_score: int
    grade: str
    is_mql: bool
    model_version: int
    scored_at: datetime
    qualification: Literal["open", "qualified", "rejected"]
    disqualified: bool
    win_probability: float | None
    last_event: LastEventOut | None


class ScoresLookupIn(BaseModel):
    """Up to 1,000 lead ids whose scores to read."""

    model_config = ConfigDict(extra="forbid")

    lead_ids: list[UUID] = Field(min_length=1, max_length=1000)


class ScoresLookupOut(BaseModel):
    """The scores found, in the order asked, and the ids without a score (unknown, not scored
    yet, erased, or merged into another lead: `merged_into` says which)."""

    scores: list[ScoreSummaryOut]
    not_found: list[UUID]
    merged_into: dict[UUID, UUID] = Field(default_factory=dict)


class ScoringModelOut(BaseModel):
    """One version of the scoring rules."""

    version: int
    name: str
    kind: ModelKind = Field(description="qualification (MQL) or expansion (a customer's "
                            "engagement since its last won deal); one active version per kind")
    is_active: bool
    created_at: datetime
    activated_at: datetime | None
    config: ScoringModelConfig


class ScoringModelsOut(Page[ScoringModelOut]):
    """A page of model versions (oldest first), and which ones score leads now."""

    active_version: int | None
    active_expansion_version: int | None = Field(
        default=None, description="the expansion model in force, if any")


class ScoringModelIn(BaseModel):
    """A new model version: a name and either every rule (`config`) or a template's rules
    (`template`: b2b or b2c, see GET /v1/models/templates); optionally activated at once."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    config: ScoringModelConfig | None = None
    template: TemplateName | None = Field(
        default=None, description="b2b: selling to companies; b2c: consumers and education")
    activate: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> "ScoringModelIn":
        if (self.config is None) == (self.template is None):
            raise ValueError("give either config (every rule) or template (b2b or b2c)")
        return self

    def rules(self) -> ScoringModelConfig:
        """The rules of the new version: the config given, or the template's."""
        if self.config is not None:
            return self.config
        assert self.template is not None  # the validator checked it
        return TEMPLATES[self.template][0]


class TemplateOut(BaseModel):
    """A model template: what it is for and its rules."""

    name: TemplateName
    description: str
    config: ScoringModelConfig


class TemplatesOut(Page[TemplateOut]):
    """The templates a model can be created from, by name."""


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


class RescoreJobsOut(Page[RescoreJobOut]):
    """A page of a version's re-score jobs, newest first."""

    model_version: int


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
