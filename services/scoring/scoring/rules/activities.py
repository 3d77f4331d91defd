"""An activity as scoring stores it, and what it reads of an activity's properties. No I/O."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

SECONDS_PROPERTY = "seconds_on_page"
"""The activity property that says how long the lead spent on the page (time on site)."""


@dataclass(frozen=True, slots=True)
class Activity:
    """One thing a lead did, as scoring stores it: its numeric properties included, so
    intensity rules and features can sum any of them (seconds on the page has a column)."""

    activity_id: UUID
    kind: str
    occurred_at: datetime
    url: str | None = None
    event_id: str | None = None
    seconds: float | None = None
    numbers: Mapping[str, float] | None = None

    def number(self, name: str) -> float | None:
        """A numeric property of the activity, or None when it has none of that name."""
        if name == SECONDS_PROPERTY:
            return self.seconds
        return None if self.numbers is None else self.numbers.get(name)


_NUMBER_TYPES = frozenset((int, float))


def numeric_properties(properties: Mapping[str, Any]) -> tuple[float | None, dict[str, float]]:
    """(seconds on page, the other numeric properties) of an activity's properties; negative
    seconds, booleans and text are not numbers here."""
    # Exact types: a bool is an int, and a type check is cheaper than isinstance() with a
    # union (every page view goes through here).
    numbers = {name: float(value) for name, value in properties.items()
               if type(value) in _NUMBER_TYPES
               and value == value}  # NaN is not a number anyone measured
    seconds = numbers.pop(SECONDS_PROPERTY, None)
    return (seconds if seconds is not None and seconds >= 0 else None), numbers
