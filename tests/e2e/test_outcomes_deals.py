"""Deals from a sales tool, end to end: idempotent by the tool's id, one `deal.closed` per deal,
refusals a sales tool can act on, and two identical reports at once making one deal."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from leadloop.events import CloudEvent
from leadloop_devstack.stack import Stack
from tests.e2e.conftest import funnel_erased, post_lead, qualified_lead
from tests.support import TopicReader, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

OUTCOMES_TOPIC = "leadloop.outcomes"
CLOSED = "leadloop.deal.closed.v1"
OPENED = "leadloop.deal.opened.v1"


def _deal(lead_id: str, status: str = "won", **extra: Any) -> dict[str, Any]:
    return {"external_id": f"crm-{uuid.uuid4()}", "lead_id": lead_id, "status": status,
            "amount_minor": 1_250_000, "currency": "EUR", **extra}


def _of_deal(external_id: str, kind: str) -> Callable[[CloudEvent], bool]:
    return lambda e: e.type == kind and e.data.get("external_id") == external_id


async def _events_until_marker(reader: TopicReader, http: httpx.AsyncClient, stack: Stack,
                               headers: dict[str, str], lead_id: str) -> list[CloudEvent]:
    """Every event read once a later deal of the same lead has arrived: events of one lead share
    a partition, so anything published before the marker has been read too."""
    marker = _deal(lead_id, "open")
    r = await http.post(f"{stack.url('outcomes')}/v1/deals", headers=headers, json=marker)
    assert r.status_code == 201, r.text
    seen = _of_deal(marker["external_id"], OPENED)
    return await reader.wait_for(lambda events: any(seen(e) for e in events), timeout_s=60)


async def test_the_same_deal_twice_is_one_deal_and_one_deal_closed(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    deals = f"{stack.url('outcomes')}/v1/deals"
    lead_id = await post_lead(http, stack, admin_headers, qualified_lead())
    closed_at = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    deal = _deal(lead_id, "lost", lost_reason="went with a competitor",
                 closed_at=closed_at.isoformat())
    async with TopicReader(stack.bootstrap_servers, OUTCOMES_TOPIC) as reader:
        first = await http.post(deals, headers=admin_headers, json=deal)
        again = await http.post(deals, headers=admin_headers, json=deal)
        assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
        assert again.json() == first.json()
        events = await _events_until_marker(reader, http, stack, admin_headers, lead_id)
    closed = [e for e in events if _of_deal(deal["external_id"], CLOSED)(e)]
    assert len(closed) == 1, closed
    assert closed[0].data["deal_id"] == first.json()["deal_id"]
    assert closed[0].data["outcome"] == "lost"

    stored = await http.get(f"{deals}/{deal['external_id']}", headers=admin_headers)
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert (body["deal_id"], body["status"], body["lost_reason"], body["amount_minor"]) == (
        first.json()["deal_id"], "lost", "went with a competitor", 1_250_000)
    assert datetime.fromisoformat(body["closed_at"]) == closed_at


async def test_changes_a_deal_cannot_take_are_refused_with_409(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    deals = f"{stack.url('outcomes')}/v1/deals"
    lead_id = await post_lead(http, stack, admin_headers, qualified_lead())
    other_lead = await post_lead(http, stack, admin_headers, qualified_lead())

    won = _deal(lead_id, "won")
    assert (await http.post(deals, headers=admin_headers, json=won)).status_code == 201
    for change in ({"status": "lost", "lost_reason": "price"}, {"amount_minor": 1},
                   {"status": "open"}):
        r = await http.post(deals, headers=admin_headers, json={**won, **change})
        assert r.status_code == 409, (change, r.text)
        assert "closed deal is final" in r.text, r.text
    r = await http.get(f"{deals}/{won['external_id']}", headers=admin_headers)
    assert (r.json()["status"], r.json()["amount_minor"]) == ("won", 1_250_000)

    opened = _deal(lead_id, "open")
    assert (await http.post(deals, headers=admin_headers, json=opened)).status_code == 201
    r = await http.post(deals, headers=admin_headers, json={**opened, "lead_id": other_lead})
    assert r.status_code == 409 and "another lead" in r.text, r.text
    r = await http.get(f"{deals}/{opened['external_id']}", headers=admin_headers)
    assert r.json()["lead_id"] == lead_id


async def test_a_deal_for_an_erased_lead_is_refused(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    lead_id = await post_lead(http, stack, admin_headers, qualified_lead())

    async def counted() -> None:
        assert await funnel_erased(stack, lead_id) is False
    await eventually(counted, timeout_s=60)
    r = await http.delete(f"{stack.url('capture')}/v1/leads/{lead_id}", headers=admin_headers)
    assert r.status_code == 204, r.text

    async def erased() -> None:
        assert await funnel_erased(stack, lead_id) is True
    await eventually(erased, timeout_s=60)
    deal = _deal(lead_id, "won")
    r = await http.post(f"{stack.url('outcomes')}/v1/deals", headers=admin_headers, json=deal)
    assert r.status_code == 409 and "erased" in r.text, r.text
    r = await http.get(f"{stack.url('outcomes')}/v1/deals/{deal['external_id']}",
                       headers=admin_headers)
    assert r.status_code == 404, r.text


async def test_two_identical_reports_at_once_make_one_deal(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    deals = f"{stack.url('outcomes')}/v1/deals"
    lead_id = await post_lead(http, stack, admin_headers, qualified_lead())
    reported = [_deal(lead_id, "won") for _ in range(3)]
    async with TopicReader(stack.bootstrap_servers, OUTCOMES_TOPIC) as reader:
        for deal in reported:
            # Two connections, so the two requests really are in flight together.
            async with httpx.AsyncClient(timeout=10) as a, httpx.AsyncClient(timeout=10) as b:
                answers = await asyncio.gather(*(c.post(deals, headers=admin_headers, json=deal)
                                                 for c in (a, b)))
            assert sorted(r.status_code for r in answers) == [200, 201], [
                r.text for r in answers]
            assert answers[0].json()["deal_id"] == answers[1].json()["deal_id"]
        events = await _events_until_marker(reader, http, stack, admin_headers, lead_id)
    for deal in reported:
        closed = [e for e in events if _of_deal(deal["external_id"], CLOSED)(e)]
        assert len(closed) == 1, (deal["external_id"], closed)
