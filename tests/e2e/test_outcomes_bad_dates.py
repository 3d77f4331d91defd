"""Dates a request brings that parse but cannot be stored or reported on are a 422 naming the
field, never a 500: a `to` in year 9999 with a negative offset is year 10000 in UTC."""

from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.e2e]

LATE = "9999-12-31T23:59:59-12:00"   # year 10000 in UTC
EARLY = "0001-01-01T00:00:00+14:00"  # year 0 in UTC
REPORTS = ["funnel", "speed-to-lead", "attribution", "score-calibration", "rejections"]


def _names(answer: httpx.Response, field: str) -> None:
    assert answer.status_code == 422, answer.text
    assert any(error["field"] == field for error in answer.json()["errors"]), answer.text


@pytest.mark.parametrize("report", REPORTS)
@pytest.mark.parametrize(("field", "value"), [("to", LATE), ("from", EARLY)])
async def test_overflowing_report_window_is_422_naming_it(
        stack: Stack, admin_headers: dict[str, str], report: str, field: str,
        value: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"{stack.url('outcomes')}/v1/reports/{report}",
                                headers=admin_headers, params={field: value})
    _names(answer, field)


@pytest.mark.parametrize("path", ["/v1/funnel", "/v1/reports/markets?by=country"])
async def test_overflowing_window_of_funnel_and_markets_is_422(
        stack: Stack, admin_headers: dict[str, str], path: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"{stack.url('outcomes')}{path}", headers=admin_headers,
                                params={"to": LATE})
    _names(answer, "to")


@pytest.mark.parametrize(("field", "value"), [("to", "9999-12-31"), ("from", "0001-01-01"),
                                              ("to", "9999-12-30")])
async def test_dashboard_day_at_the_end_of_the_calendar_is_422(
        stack: Stack, admin_headers: dict[str, str], field: str, value: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"{stack.url('outcomes')}/dashboard", headers=admin_headers,
                                params={field: value})
    _names(answer, field)


async def test_dashboard_period_ending_before_it_starts_is_422(
        stack: Stack, admin_headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"{stack.url('outcomes')}/dashboard", headers=admin_headers,
                                params={"from": "2026-05-02", "to": "2026-05-01"})
    _names(answer, "to")


async def test_deal_closed_at_outside_utc_years_is_422(
        stack: Stack, admin_headers: dict[str, str]) -> None:
    deal: dict[str, Any] = {"external_id": "bad-date-1",
                            "lead_id": "00000000-0000-4000-8000-000000000001",
                            "status": "won", "amount_minor": 100, "currency": "EUR",
                            "closed_at": EARLY}
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(f"{stack.url('outcomes')}/v1/deals", headers=admin_headers,
                                 json=deal)
    _names(answer, "closed_at")
