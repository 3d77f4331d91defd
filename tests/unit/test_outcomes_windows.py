"""Report windows and deal times: out-of-range values are refused naming the field."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from outcomes.deals.schemas import DealIn
from outcomes.reports.window import check_window, day_bounds, window_bounds

MINUS_12 = timezone(timedelta(hours=-12))


def test_window_end_in_utc_year_10000_names_to() -> None:
    with pytest.raises(RequestValidationError) as refused:
        check_window(None, datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_12))
    assert refused.value.errors()[0]["loc"] == ("query", "to")


def test_dashboard_last_day_of_the_calendar_names_to() -> None:
    with pytest.raises(RequestValidationError) as refused:
        day_bounds(None, date(9999, 12, 31))
    assert refused.value.errors()[0]["loc"] == ("query", "to")


def test_dashboard_days_become_utc_bounds() -> None:
    assert day_bounds(date(2026, 5, 1), date(2026, 5, 1)) == (
        datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 2, tzinfo=UTC))


def test_deal_closed_in_utc_year_0_names_closed_at() -> None:
    with pytest.raises(ValidationError) as refused:
        DealIn.model_validate({"external_id": "d1", "lead_id": "00000000-0000-4000-8000-"
                               "000000000001", "status": "won", "amount_minor": 1,
                               "currency": "EUR", "closed_at": "0001-01-01T00:00:00+14:00"})
    assert refused.value.errors()[0]["loc"] == ("closed_at",)


def test_report_dates_are_whole_utc_days_and_times_stay_as_given() -> None:
    may_1, may_3 = date(2026, 5, 1), date(2026, 5, 3)
    assert window_bounds(may_1, may_3) == (
        datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 4, tzinfo=UTC))
    noon = datetime(2026, 5, 2, 12, tzinfo=MINUS_12)
    assert window_bounds(noon, may_3) == (noon, datetime(2026, 5, 4, tzinfo=UTC))
    assert window_bounds(None, None) == (None, None)
    with pytest.raises(RequestValidationError) as refused:
        window_bounds(may_3, may_1)
    assert refused.value.errors()[0]["loc"] == ("query", "to")
