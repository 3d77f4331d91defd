"""Field types whose JSON Schema must say exactly what the API accepts and returns."""

from datetime import time
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema


def _without_zone(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local time of day takes no time zone (e.g. 09:30)")
    return value


LocalTime = Annotated[time, AfterValidator(_without_zone), WithJsonSchema({
    "type": "string",
    "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?$",
    "description": "a local time of day without a zone, HH:MM[:SS]",
})]
"""A wall-clock time in someone's own time zone. JSON Schema's `format: time` demands a UTC
offset, which a local time of day does not have."""
