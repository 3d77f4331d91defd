"""The time window every report takes: ?from=...&to=..., both optional: times with a zone, or
plain dates, which mean whole UTC days (`to` included, as the dashboard's days are).

Every time a request brings is checked against the range the database driver and the date
arithmetic can hold (UTC years 1 to 9999, less a day at each end): 9999-12-31T23:59:59-12:00
is a valid ISO time but lies in year 10000 once converted to UTC.
"""

from datetime import UTC, date, datetime, timedelta

from fastapi import Query
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from leadloop.problems import invalid_query

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
RANGE = f"between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} UTC"


def out_of_range(at: datetime) -> str | None:
    """Why `at` (timezone-aware) cannot be stored or reported on, or None when it can."""
    try:
        utc = at.astimezone(UTC)
    except OverflowError:
        return f"must be {RANGE}"
    return None if EARLIEST <= utc <= LATEST else f"must be {RANGE}"


def day_out_of_range(day: date) -> str | None:
    """Why a calendar day (taken as UTC) cannot bound a report, or None when it can."""
    return None if EARLIEST.date() <= day < LATEST.date() else f"must be {RANGE}"


def day_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """[from, to] in whole UTC days as [since, until) times; 422 naming a bad parameter."""
    for field, day in (("from", start), ("to", end)):
        problem = day_out_of_range(day) if day is not None else None
        if problem:
            raise invalid_query(field, problem)
    if start is not None and end is not None and start > end:
        raise invalid_query("to", "must not be before 'from'")
    since = datetime.combine(start, datetime.min.time(), UTC) if start else None
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC) if end else None
    return since, until


def check_window(start: datetime | None, end: datetime | None) -> None:
    """422 naming the parameter when a bound is out of range or `to` is not after `from`."""
    for field, at in (("from", start), ("to", end)):
        problem = out_of_range(at) if at is not None else None
        if problem:
            raise invalid_query(field, problem)
    if start is not None and end is not None and start >= end:
        raise invalid_query("to", "must be later than 'from'")


def window_bounds(start: datetime | date | None, end: datetime | date | None
                  ) -> tuple[datetime | None, datetime | None]:
    """[from, to) as times: a date `from` is the start of that UTC day, a date `to` the start
    of the next (the day is included); 422 naming a bad parameter."""
    if isinstance(start, date) and not isinstance(start, datetime):
        start = day_bounds(start, None)[0]
    if isinstance(end, date) and not isinstance(end, datetime):
        end = day_bounds(None, end)[1]
    check_window(start, end)
    return start, end


_AWARE_TIME = TypeAdapter(AwareDatetime)
_BOUND = "must be a time with a zone (2026-12-01T09:00:00Z) or a date (2026-12-01)"


def parse_bound(field: str, raw: str | None) -> datetime | date | None:
    """A window bound as a request brings it: a time with a zone, or a plain date; 422 naming
    `field` otherwise (a time without a zone included: which zone would it be in?)."""
    if raw is None:
        return None
    try:
        return _AWARE_TIME.validate_python(raw)
    except ValidationError:
        pass
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise invalid_query(field, _BOUND) from None


class Window:
    """FastAPI dependency: [from, to) with from before to, both within the storable range."""

    def __init__(
        self,
        start: str | None = Query(
            default=None, alias="from",
            description="at or after this time (with its zone); a date: from the start of "
            "that UTC day"),
        end: str | None = Query(
            default=None, alias="to",
            description="before this time (with its zone); a date: up to the end of that UTC "
            "day"),
    ) -> None:
        self.start, self.end = window_bounds(parse_bound("from", start), parse_bound("to", end))
