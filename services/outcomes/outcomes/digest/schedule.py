"""The digest's periods: ISO weeks by default, or days, months, or N-second periods (for tests
and demos), all in UTC. Pure: a period is named and bounded from a time alone, so every replica
computes the same period key and the database's unique key does the rest."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_SECONDS = re.compile(r"^([1-9][0-9]{0,6})s$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Schedule:
    """week, day, month, or every `seconds` seconds (aligned to the Unix epoch)."""

    label: str
    seconds: int | None = None


def parse_schedule(value: str) -> Schedule:
    """'week' | 'day' | 'month' | '<N>s'; ValueError otherwise."""
    if value in ("week", "day", "month"):
        return Schedule(value)
    if (match := _SECONDS.match(value)) is not None:
        return Schedule(value, int(match.group(1)))
    raise ValueError("must be week, day, month or <N>s (N seconds, e.g. 30s)")


@dataclass(frozen=True, slots=True)
class DigestPeriod:
    """One period: its key (2026-W48, 2026-11-23, 2026-11, 2026-11-23T16:50:20Z-20s) and
    bounds [start, end)."""

    key: str
    start: datetime
    end: datetime


def _month_after(start: datetime) -> datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def period_at(schedule: Schedule, at: datetime) -> DigestPeriod:
    """The period `at` falls in."""
    at = at.astimezone(UTC)
    if schedule.seconds is not None:
        n = schedule.seconds
        start = _EPOCH + timedelta(seconds=int((at - _EPOCH).total_seconds()) // n * n)
        return DigestPeriod(f"{start:%Y-%m-%dT%H:%M:%SZ}-{n}s", start,
                            start + timedelta(seconds=n))
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if schedule.label == "day":
        return DigestPeriod(f"{midnight:%Y-%m-%d}", midnight, midnight + timedelta(days=1))
    if schedule.label == "month":
        start = midnight.replace(day=1)
        return DigestPeriod(f"{start:%Y-%m}", start, _month_after(start))
    start = midnight - timedelta(days=midnight.weekday())
    year, week, _ = start.isocalendar()
    return DigestPeriod(f"{year}-W{week:02d}", start, start + timedelta(days=7))


def previous_period(schedule: Schedule, period: DigestPeriod) -> DigestPeriod:
    """The period just before `period`."""
    return period_at(schedule, period.start - timedelta(microseconds=1))
