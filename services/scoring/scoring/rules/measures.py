"""Engagement intensity: one number measured over a lead's recent activities. No I/O.

Time on site (the sum of `seconds_on_page`), visits, days since the last activity, and any
numeric activity property summed or counted, each over a window of days and optionally only
for activities of one kind or URL. Intensity rules give points by bands of such a number, and
learned features use the same numbers, so a rule and a feature named alike measure alike.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scoring.rules.activities import SECONDS_PROPERTY, Activity

VISIT_GAP = timedelta(minutes=30)
"""Activities closer together than this are one visit (the usual web-analytics session)."""

Measure = Literal["time_on_site", "visits", "days_since_last", "sum", "count"]

MEASURE_TEXT: dict[str, str] = {
    "time_on_site": "seconds on site", "visits": "visits", "days_since_last": "days since last",
    "sum": "sum of", "count": "count of",
}


class ActivityMeasure(BaseModel):
    """What to measure over which activities in the last `window_days`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    measure: Measure = Field(description="time_on_site (sum of seconds_on_page), visits "
                             "(activities 30 minutes apart start a new one), days_since_last "
                             "(activity), sum (of `property`), count (of activities)")
    window_days: int = Field(default=30, gt=0, le=3650)
    activity_kind: str | None = Field(default=None, min_length=1,
                                      description="only activities of this kind")
    url_contains: str | None = Field(default=None, min_length=1,
                                     description="only activities whose URL contains this")
    attribute: str | None = Field(default=None, min_length=1, max_length=100,
                                  description="the numeric activity property summed (sum) or "
                                              "required (count), e.g. seconds_on_page")

    @model_validator(mode="after")
    def _property_where_needed(self) -> Self:
        if self.measure == "sum" and self.attribute is None:
            raise ValueError("measure 'sum' needs the numeric activity property to sum "
                             "('attribute', e.g. seconds_on_page or video_seconds)")
        if self.attribute is not None and self.measure not in ("sum", "count"):
            raise ValueError(f"'attribute' applies to the measures sum and count, "
                             f"not {self.measure}")
        return self

    @property
    def label(self) -> str:
        """How the measure reads in explanations and coefficient names."""
        parts = [self.measure if self.attribute is None else f"{self.measure}.{self.attribute}"]
        if self.activity_kind:
            parts.append(self.activity_kind)
        if self.url_contains:
            parts.append(f"url~{self.url_contains}")
        return ".".join(parts) + f".{self.window_days}d"

    def counts(self, activity: Activity) -> bool:
        """Whether an activity is one this measure looks at (window aside)."""
        return self.looks_at(activity.kind, activity.url) and (
            self.attribute is None or activity.number(self.attribute) is not None)

    def looks_at(self, kind: str, url: str | None) -> bool:
        """Whether activities of this kind at this URL are ones the measure looks at (its
        attribute and window aside)."""
        if self.activity_kind is not None and kind != self.activity_kind:
            return False
        return self.url_contains is None or (
            url is not None and self.url_contains.lower() in url.lower())

    def value(self, activities: Sequence[Activity], now: datetime) -> float | None:
        """The measure at `now` over the activities in the window before it; None for
        days_since_last when there is no activity in the window."""
        return self.measured(self.counted(activities, now), now)

    def counted(self, activities: Sequence[Activity], now: datetime) -> list[Activity]:
        """The activities the measure counts at `now`: in its window, of its kind and URL.
        One stamped after `now` (clock skew between producers) counts as happening now, as
        decay has it; callers that replay the past pass only what happened by then."""
        start = now - timedelta(days=self.window_days)
        return [a for a in activities if start < a.occurred_at and self.counts(a)]

    def measured(self, seen: Sequence[Activity], now: datetime) -> float | None:
        """The measure of the activities `counted` gave."""
        match self.measure:
            case "time_on_site":
                return float(sum(a.seconds or 0.0 for a in seen))
            case "sum":
                assert self.attribute is not None  # checked by the validator
                return float(sum(a.number(self.attribute) or 0.0 for a in seen))
            case "count":
                return float(len(seen))
            case "visits":
                return float(visits(seen))
            case _:  # days_since_last
                latest = max((a.occurred_at for a in seen), default=None)
                return None if latest is None else \
                    max((now - latest).total_seconds(), 0.0) / 86_400


def visits(activities: Sequence[Activity]) -> int:
    """How many visits the activities make: a gap longer than VISIT_GAP starts a new one."""
    times = sorted(a.occurred_at for a in activities)
    return sum(1 for before, at in zip([None, *times], times, strict=False)
               if before is None or at - before > VISIT_GAP)


__all__ = ["MEASURE_TEXT", "SECONDS_PROPERTY", "VISIT_GAP", "ActivityMeasure", "Measure",
           "visits"]
