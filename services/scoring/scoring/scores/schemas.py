"""The score API's HTTP models: a lead's score and history, many leads' scores, the model
list."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from leadloop.events.models import Consent, ScoreContribution
from leadloop.pagination import Page
from scoring.models.schemas import ScoringModelOut


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


class _CurrentScore(BaseModel):
    """What every answer about a lead's current score starts with."""

    lead_id: UUID
    score: int
    fit_score: int
    engagement_score: int
    grade: str
    is_mql: bool
    model_version: int
    scored_at: datetime
    qualification: Literal["open", "qualified", "rejected"]


class LeadScoreOut(_CurrentScore):
    """A lead's current score, every contribution that makes it, and how it got there."""

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


class ScoreSummaryOut(_CurrentScore):
    """A lead's current score, as of the last event applied (no contributions or history)."""

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


class ScoringModelsOut(Page[ScoringModelOut]):
    """A page of model versions (oldest first), and which ones score leads now."""

    active_version: int | None
    active_expansion_version: int | None = Field(
        default=None, description="the expansion model in force, if any")
