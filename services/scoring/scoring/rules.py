"""A scoring model's rules, as data: what is stored (JSONB) in each model version. No I/O.

A model has fit rules (who the lead is, from the profile; each counts once), engagement rules
(what the lead did, from activities; decayed, optionally repeatable up to a cap), disqualifiers,
grade thresholds on the fit score and the MQL definition. Conditions (`conditions.py`) are a
small closed set of kinds so a stored model can be validated, shown and explained, never
executed.
"""

import re
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from scoring.conditions import (
    FREE_MAIL_DOMAINS,
    BusinessEmail,
    Condition,
    ConsentWithdrawn,
    DisqualifierCondition,
    EmailDomainIn,
    EmailDomainKind,
    FieldEquals,
    FieldIn,
    FieldMatches,
    FieldPresent,
    NumberAtLeast,
    NumberInRange,
    RuleModel,
    email_domain,
    listed_domain,
    profile_value,
)
from scoring.learning_config import LearningConfig

__all__ = [
    "FREE_MAIL_DOMAINS", "BusinessEmail", "Condition", "ConsentWithdrawn", "Decay",
    "Disqualifier", "EmailDomainIn",
    "EmailDomainKind", "EngagementRule", "FieldEquals", "FieldIn", "FieldMatches",
    "FieldPresent", "FitRule", "GradeThreshold", "MqlDefinition", "NumberAtLeast",
    "NumberInRange", "PeriodCap", "RuleModel", "ScoringModelConfig", "email_domain",
    "listed_domain", "profile_value",
]

RuleId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.\-]+$")]


class FitRule(RuleModel):
    """Points, once, when the profile meets a condition."""

    id: RuleId
    points: int
    when: Condition


class Disqualifier(RuleModel):
    """A condition that takes a lead out of qualification for good."""

    id: RuleId
    when: DisqualifierCondition


class PeriodCap(RuleModel):
    """At most `points` (before decay) from one rule within each period of `days`."""

    points: int = Field(gt=0)
    days: float = Field(gt=0)


class EngagementRule(RuleModel):
    """Points per activity of a kind (optionally filtered by URL), decayed.

    Once-only (the newest matching activity counts) or repeatable, with an optional cap on the
    rule's total and an optional cap per period (e.g. at most 10 points of page views a day).
    """

    id: RuleId
    activity_kind: str = Field(min_length=1)
    url_contains: str | None = None
    url_pattern: str | None = Field(default=None, description="regular expression on the URL")
    points: int
    repeatable: bool = False
    cap: int | None = Field(default=None, gt=0, description="most points a repeatable rule gives")
    period_cap: PeriodCap | None = None

    @field_validator("url_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"url_pattern '{value}' is not a regular expression: {exc}") \
                    from exc
        return value

    @model_validator(mode="after")
    def _sensible(self) -> Self:
        if self.points == 0:
            raise ValueError(f"rule {self.id}: points must not be 0")
        if self.cap is not None and not self.repeatable:
            raise ValueError(f"rule {self.id}: a cap only applies to a repeatable rule")
        if self.period_cap is not None and not self.repeatable:
            raise ValueError(f"rule {self.id}: a period cap only applies to a repeatable rule")
        return self

    def matches(self, kind: str, url: str | None) -> bool:
        """Whether an activity of this kind at this URL counts for the rule."""
        if kind != self.activity_kind:
            return False
        if self.url_contains is not None and (
                url is None or self.url_contains.lower() not in url.lower()):
            return False
        return self.url_pattern is None or (
            url is not None and re.search(self.url_pattern, url, re.IGNORECASE) is not None)


class GradeThreshold(RuleModel):
    """The fit score from which a grade is given."""

    grade: str = Field(min_length=1, max_length=8)
    min_fit: int


class MqlDefinition(RuleModel):
    """When a lead is marketing-qualified."""

    min_score: int
    grades: tuple[str, ...]
    min_probability: float | None = Field(
        default=None, ge=0, le=1,
        description="also require this predicted win probability, once the version is trained",
    )


class Decay(RuleModel):
    """How engagement fades: halves every half-life; activities older than the window count 0."""

    half_life_days: float | None = Field(default=30.0, gt=0)
    window_days: int = Field(default=365, gt=0)


class ScoringModelConfig(RuleModel):
    """Every rule of one model version."""

    fit_rules: tuple[FitRule, ...] = ()
    engagement_rules: tuple[EngagementRule, ...] = ()
    disqualifiers: tuple[Disqualifier, ...] = ()
    grades: tuple[GradeThreshold, ...] = ()
    default_grade: str = "D"
    mql: MqlDefinition
    decay: Decay = Decay()
    learning: LearningConfig | None = None

    @field_validator("grades")
    @classmethod
    def _highest_first(cls, value: tuple[GradeThreshold, ...]) -> tuple[GradeThreshold, ...]:
        return tuple(sorted(value, key=lambda g: g.min_fit, reverse=True))

    @model_validator(mode="after")
    def _unique_rule_ids(self) -> Self:
        ids = [r.id for r in self.fit_rules] + [r.id for r in self.engagement_rules] + [
            r.id for r in self.disqualifiers]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique: {', '.join(duplicates)}")
        return self
