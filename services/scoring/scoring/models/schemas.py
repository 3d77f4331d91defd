"""The model admin API's HTTP models: versions, templates, diffs, activation and re-score
progress, training evaluations."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadloop.pagination import Page
from scoring.models.templates import TEMPLATES
from scoring.rules.model_config import ModelKind, ScoringModelConfig

TemplateName = Literal["b2b", "b2c"]


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
