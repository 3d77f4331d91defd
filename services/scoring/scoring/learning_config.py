"""What a model version learns from won and lost deals: its features and training settings.

Part of a version's stored configuration, so which inputs the learned model may use is as
visible, versioned and reviewable as the rules. No I/O.
"""

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadloop.events.models import LeadProfile

_PROFILE_FIELDS = frozenset(LeadProfile.model_fields) - {"properties"}
_PROPERTY_PREFIX = "properties."


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_field(field: str) -> None:
    if field not in _PROFILE_FIELDS and not (
            field.startswith(_PROPERTY_PREFIX) and len(field) > len(_PROPERTY_PREFIX)):
        raise ValueError(f"'{field}' is not a profile field (or properties.<name>)")


class CategoricalFeature(_Part):
    """A profile field or custom property as categories (one weight per frequent value)."""

    kind: Literal["categorical"] = "categorical"
    field: str
    max_levels: int = Field(default=20, ge=1, le=200)

    @model_validator(mode="after")
    def _known(self) -> Self:
        _check_field(self.field)
        return self

    @property
    def name(self) -> str:
        """How the feature is named in coefficients."""
        return self.field


class NumericFeature(_Part):
    """A numeric profile field or custom property (missing values count as the mean)."""

    kind: Literal["numeric"] = "numeric"
    field: str

    @model_validator(mode="after")
    def _known(self) -> Self:
        _check_field(self.field)
        return self

    @property
    def name(self) -> str:
        """How the feature is named in coefficients."""
        return self.field


class ActivityCountFeature(_Part):
    """How many activities (of one kind, or all) the lead had within the decay window."""

    kind: Literal["activity_count"] = "activity_count"
    activity_kind: str | None = None

    @property
    def name(self) -> str:
        """How the feature is named in coefficients."""
        return f"activity_count.{self.activity_kind or 'all'}"


class RecencyFeature(_Part):
    """Days since the lead's latest activity (the whole window when it has none)."""

    kind: Literal["days_since_last_activity"] = "days_since_last_activity"

    @property
    def name(self) -> str:
        """How the feature is named in coefficients."""
        return "days_since_last_activity"


class SecondsOnSiteFeature(_Part):
    """Total seconds on site: the sum of activities' `seconds_on_page` property."""

    kind: Literal["seconds_on_site"] = "seconds_on_site"

    @property
    def name(self) -> str:
        """How the feature is named in coefficients."""
        return "seconds_on_site"


Feature = Annotated[
    CategoricalFeature | NumericFeature | ActivityCountFeature | RecencyFeature
    | SecondsOnSiteFeature,
    Field(discriminator="kind"),
]


class LearningConfig(_Part):
    """A logistic regression over chosen features, trained on closed deals."""

    features: tuple[Feature, ...] = Field(min_length=1)
    min_outcomes: int = Field(default=50, ge=10, description="closed deals needed to train")
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
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"features must be unique: {', '.join(duplicates)}")
        return self
