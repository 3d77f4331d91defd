"""What a model version learns from outcomes (won and lost deals, leads closed as not
converted): its features and training settings.

Part of a version's stored configuration, so which inputs the learned model may use is as
visible, versioned and reviewable as the rules. No I/O.
"""

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scoring.rules.lead_fields import check_field
from scoring.rules.measures import ActivityMeasure


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Numeric(_Part):
    """How a numeric feature enters the model: by quantile bins (one weight per bin, so a
    non-linear effect such as time on site shows, and each bin's weight reads on its own) or
    as one linear, standardized term."""

    encoding: Literal["bins", "linear"] = "bins"
    bins: int = Field(default=5, ge=2, le=20, description="quantile bins (encoding 'bins')")


class _OnField(_Part):
    """A feature read from one lead field, checked when the version is saved."""

    field: str

    @model_validator(mode="after")
    def _known(self) -> Self:
        check_field(self.field)
        return self

    @property
    def name(self) -> str:
        """How the feature is named in coefficients."""
        return self.field


class CategoricalFeature(_OnField):
    """A lead field (profile, properties.<name>, consent.<name>, source.<name>) as categories
    (one weight per frequent value)."""

    kind: Literal["categorical"] = "categorical"
    max_levels: int = Field(default=20, ge=1, le=200)


class NumericFeature(_OnField, _Numeric):
    """A numeric lead field or custom property (missing: a bin of its own, or the mean)."""

    kind: Literal["numeric"] = "numeric"


class ActivityCountFeature(_Numeric):
    """How many activities (of one kind, or all) the lead had within the decay window."""

    kind: Literal["activity_count"] = "activity_count"
    activity_kind: str | None = None

    @property
    def name(self) -> str:
        """How the feature is named in coefficients."""
        return f"activity_count.{self.activity_kind or 'all'}"


class RecencyFeature(_Numeric):
    """Days since the lead's latest activity (the whole window when it has none)."""

    kind: Literal["days_since_last_activity"] = "days_since_last_activity"

    @property
    def name(self) -> str:
        """How the feature is named in coefficients."""
        return "days_since_last_activity"


class SecondsOnSiteFeature(_Numeric):
    """Total seconds on site: the sum of activities' `seconds_on_page` property."""

    kind: Literal["seconds_on_site"] = "seconds_on_site"

    @property
    def name(self) -> str:
        """How the feature is named in coefficients."""
        return "seconds_on_site"


class EngagementFeature(ActivityMeasure):
    """An engagement-intensity measure over a window, the same an intensity rule reads: time on
    site, visits, days since the last activity, a numeric activity property summed or counted
    (days since the last activity, when there is none in the window: the window's length)."""

    kind: Literal["engagement"] = "engagement"
    encoding: Literal["bins", "linear"] = "bins"
    bins: int = Field(default=5, ge=2, le=20, description="quantile bins (encoding 'bins')")

    @property
    def name(self) -> str:
        """How the feature is named in coefficients."""
        return self.label


NumericKind = NumericFeature | ActivityCountFeature | RecencyFeature | SecondsOnSiteFeature \
    | EngagementFeature
"""Features whose value is a number."""

Feature = Annotated[
    CategoricalFeature | NumericFeature | ActivityCountFeature | RecencyFeature
    | SecondsOnSiteFeature | EngagementFeature,
    Field(discriminator="kind"),
]


class LearningConfig(_Part):
    """A logistic regression over chosen features, trained on outcomes: won deals are
    positives; lost deals and leads closed as not converted are negatives."""

    # Not Field(min_length=1): pydantic would add "at least 1 item" to the error of a refused
    # feature (it counts the valid ones); an after-validator runs only when all are valid.
    features: tuple[Feature, ...]
    min_outcomes: int = Field(default=50, ge=10, le=1_000_000_000,
                              description="outcomes (closed deals and closed leads) needed")
    holdout_share: float = Field(default=0.3, gt=0, lt=1,
                                 description="share of leads held out for evaluation")
    regularization_c: float = Field(default=1.0, gt=0,
                                    description="inverse L2 strength (scikit-learn's C)")
    shadow: bool = Field(
        default=False,
        description="compute, store and show the probability, but never let it hold back an "
                    "MQL (mql.min_probability is ignored while true)")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        if not self.features:
            raise ValueError("learning needs at least one feature")
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"features must be unique: {', '.join(duplicates)}")
        return self
