"""A scoring model's rules, as data: what is stored (JSONB) in each model version. No I/O.

A model has fit rules (who the lead is, from its profile, consent and source; each counts
once), engagement rules (what the lead did, from activities; decayed, optionally repeatable up
to a cap), intensity rules (points by bands of a measure such as time on site over a window),
disqualifiers,
grade thresholds on the fit score and the MQL definition. Conditions (`conditions.py`) are a
small closed set of kinds so a stored model can be validated, shown and explained, never
executed.
"""

import itertools
import re
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from scoring.learning.features import LearningConfig
from scoring.rules.conditions import (
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
    check_bounds,
    email_domain,
    listed_domain,
)
from scoring.rules.measures import MEASURE_TEXT, ActivityMeasure

__all__ = [
    "FREE_MAIL_DOMAINS", "BusinessEmail", "Condition", "ConsentWithdrawn", "Decay",
    "Disqualifier", "EmailDomainIn",
    "EmailDomainKind", "EngagementRule", "FieldEquals", "FieldIn", "FieldMatches",
    "FieldPresent", "FitRule", "GradeThreshold", "IntensityBand", "IntensityRule",
    "ModelKind", "MqlDefinition", "NumberAtLeast", "NumberInRange", "PeriodCap", "RuleModel",
    "ScoringModelConfig", "email_domain", "listed_domain",
]

# Bounds that keep every score an ordinary number: a rule's points, a threshold, a period of
# days. Far beyond any real model; without them a 20-digit number reached the database (500).
MAX_POINTS = 1_000_000
MAX_SCORE = 1_000_000_000
MAX_DAYS = 36_500

RuleId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.\-]+$")]


class FitRule(RuleModel):
    """Points, once, when the profile meets a condition."""

    id: RuleId
    points: int = Field(ge=-MAX_POINTS, le=MAX_POINTS)
    when: Condition


class Disqualifier(RuleModel):
    """A condition that takes a lead out of qualification for good."""

    id: RuleId
    when: DisqualifierCondition


class PeriodCap(RuleModel):
    """At most `points` (before decay) from one rule within each period of `days`."""

    points: int = Field(gt=0, le=MAX_POINTS)
    days: float = Field(gt=0, le=MAX_DAYS)


class EngagementRule(RuleModel):
    """Points per activity of a kind (optionally filtered by URL), decayed.

    Once-only (the newest matching activity counts) or repeatable, with an optional cap on the
    rule's total and an optional cap per period (e.g. at most 10 points of page views a day).
    """

    id: RuleId
    activity_kind: str = Field(min_length=1)
    url_contains: str | None = None
    url_pattern: str | None = Field(default=None, description="regular expression on the URL")
    points: int = Field(ge=-MAX_POINTS, le=MAX_POINTS)
    repeatable: bool = False
    cap: int | None = Field(default=None, gt=0, le=MAX_POINTS,
                            description="most points a repeatable rule gives")
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


class IntensityBand(RuleModel):
    """Points when the measured value lies in [at_least, below); either bound may be open."""

    at_least: float | None = None
    below: float | None = None
    points: int = Field(ge=-MAX_POINTS, le=MAX_POINTS)

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        check_bounds(self.at_least, self.below, "a band needs at_least, below or both",
                     "band at_least {low:g} must be below {high:g}")
        return self

    def holds(self, value: float) -> bool:
        """Whether the value lies in the band."""
        return (self.at_least is None or value >= self.at_least) and (
            self.below is None or value < self.below)

    @property
    def text(self) -> str:
        """The band as people read it, e.g. '>= 300 and < 900'."""
        return " and ".join(part for part in (
            None if self.at_least is None else f">= {self.at_least:g}",
            None if self.below is None else f"< {self.below:g}") if part)


class IntensityRule(ActivityMeasure):
    """Points by how much a lead engaged: a measure over a window (time on site, visits, days
    since the last activity, a numeric activity property summed or counted) and the points of
    the band its value falls in. Not decayed: the window (and recency) carry time."""

    id: RuleId
    bands: tuple[IntensityBand, ...]  # not min_length: see LearningConfig.features

    @model_validator(mode="after")
    def _bands_apart(self) -> Self:
        if not self.bands:
            raise ValueError(f"rule {self.id}: bands must list at least one band")
        ordered = sorted(self.bands, key=lambda b: -float("inf") if b.at_least is None
                         else b.at_least)
        for low, high in itertools.pairwise(ordered):
            if low.below is None or (high.at_least is not None and high.at_least < low.below) \
                    or high.at_least is None:
                raise ValueError(f"rule {self.id}: bands overlap ({low.text} / {high.text})")
        return self

    def band_of(self, value: float | None) -> IntensityBand | None:
        """The band a measured value falls in, if any."""
        return None if value is None else next((b for b in self.bands if b.holds(value)), None)

    def reason(self, value: float, band: IntensityBand) -> str:
        """Why the rule gives its points, e.g. 'seconds on site 1200 in 30 days (>= 900)'."""
        what = MEASURE_TEXT[self.measure] + (f" {self.attribute}" if self.attribute else "")
        scope = "".join((f" {self.activity_kind}" if self.activity_kind else "",
                         f" at *{self.url_contains}*" if self.url_contains else ""))
        # Whole days for recency: the reason must not change with the moment it is computed.
        shown = f"{int(value)}" if self.measure == "days_since_last" else f"{value:.4g}"
        return f"{what}{scope} {shown} in {self.window_days} days ({band.text})"


class GradeThreshold(RuleModel):
    """The fit score from which a grade is given."""

    grade: str = Field(min_length=1, max_length=8)
    min_fit: int = Field(ge=-MAX_SCORE, le=MAX_SCORE)


class MqlDefinition(RuleModel):
    """When a lead is marketing-qualified."""

    min_score: int = Field(ge=-MAX_SCORE, le=MAX_SCORE)
    grades: tuple[str, ...]
    min_probability: float | None = Field(
        default=None, ge=0, le=1,
        description="also require this predicted win probability, once the version is trained",
    )


class Decay(RuleModel):
    """How engagement fades: halves every half-life; activities older than the window count 0."""

    half_life_days: float | None = Field(default=30.0, gt=0)
    window_days: int = Field(default=365, gt=0, le=MAX_DAYS)


ModelKind = Literal["qualification", "expansion"]
"""What a model scores: a prospect's readiness for sales (qualification, MQL) or a customer's
engagement since their last won deal (expansion: ready to buy again). Each kind has its own
active version."""


class ScoringModelConfig(RuleModel):
    """Every rule of one model version."""

    kind: ModelKind = "qualification"
    # Expansion models learn from repeat deals: a won deal followed by another within this
    # many days is a positive example, one without after this many days a negative one.
    repeat_window_days: int = Field(default=180, gt=0, le=3650)
    fit_rules: tuple[FitRule, ...] = ()
    engagement_rules: tuple[EngagementRule, ...] = ()
    intensity_rules: tuple[IntensityRule, ...] = ()
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
            r.id for r in self.intensity_rules] + [r.id for r in self.disqualifiers]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def _windows_kept(self) -> Self:
        # Scoring keeps (and loads) activities of the decay window only: a longer window
        # would silently measure less than it says.
        longest = self.decay.window_days
        too_long = [r.id for r in self.intensity_rules if r.window_days > longest]
        if self.learning is not None:
            too_long += [f.name for f in self.learning.features
                         if isinstance(f, ActivityMeasure) and f.window_days > longest]
        if too_long:
            raise ValueError(f"{', '.join(too_long)}: window_days must not exceed "
                             f"decay.window_days ({longest}), the activities scoring keeps")
        return self
