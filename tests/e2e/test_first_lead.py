"""The first lead end to end: what a marketer, a sales tool and a sales manager each see."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from leadloop.events import CloudEvent
from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead, unqualified_lead
from tests.support import TopicReader, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

HANDED_OFF = "leadloop.lead.handed_off.v1"


def _handoffs(events: list[CloudEvent], lead_ids: set[str]) -> dict[str, CloudEvent]:
    return {e.subject: e for e in events if e.type == HANDED_OFF and e.subject in lead_ids}


async def test_leads_flow_from_form_post_to_sales_tool_to_funnel(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        reps: list[dict[str, Any]]) -> None:
    # Services share this machine's clock: every lead posted below is created after `started`,
    # and leads of earlier tests before it.
    started = datetime.now(UTC)
    hot_bodies = [qualified_lead() for _ in range(3)]
    hot = [await post_lead(http, stack, admin_headers, b) for b in hot_bodies]
    cold = [await post_lead(http, stack, admin_headers, unqualified_lead()) for _ in range(2)]

    # A sales tool reads lead.handed_off from Kafka with a plain consumer.
    async with TopicReader(stack.bootstrap_servers, "leadloop.handoff") as sales_tool:
        events = await sales_tool.wait_for(lambda evs: len(_handoffs(evs, set(hot))) == 3)
    handoffs = _handoffs(events, set(hot))
    rep_ids = {r["id"] for r in reps}
    for lead_id, body in zip(hot, hot_bodies, strict=True):
        data = handoffs[lead_id].data
        assert data["profile"]["email"] == body["email"].lower()
        assert data["profile"]["phone"] == "+49301234567"
        assert data["score"] == 60 and data["grade"] == "A"
        # The rep sees why: every rule that contributed, with its points.
        assert {(c["rule_id"], c["points"]) for c in data["contributions"]} == {
            ("fit.business_email", 15), ("fit.senior_title", 25),
            ("fit.company_size_50", 15), ("fit.phone", 5)}
        assert data["rep"]["id"] in rep_ids
        assert data["source"]["utm_campaign"] == "q4-launch"
        assert data["sla_deadline"] > data["handed_off_at"]
    assert len({handoffs[h].data["rep"]["id"] for h in hot}) == 2, "round-robin uses both reps"

    # Marketing keeps nurturing the cold leads, and stopped nurturing the hot ones.
    nurture = stack.url("nurture")
    for lead_id in cold:
        async def enrolled(lead_id: str = lead_id) -> None:
            r = await http.get(f"{nurture}/v1/leads/{lead_id}/enrollments", headers=admin_headers)
            assert r.status_code == 200
            assert [e["status"] for e in r.json()["items"]] == ["active"]
        await eventually(enrolled)
    for lead_id in hot:
        async def not_nurtured(lead_id: str = lead_id) -> None:
            r = await http.get(f"{nurture}/v1/leads/{lead_id}/enrollments",
                               headers=admin_headers)
            assert all(e["status"] != "active" for e in r.json()["items"]), r.text
        await eventually(not_nurtured)

    # Sales wins a deal; outcomes announces it and the funnel shows the whole journey.
    deal = await http.post(f"{stack.url('outcomes')}/v1/deals", headers=admin_headers, json={
        "external_id": f"crm-{hot[0]}", "lead_id": hot[0], "status": "won",
        "amount_minor": 1_250_000, "currency": "EUR"})
    assert deal.status_code == 201, deal.text
    async with TopicReader(stack.bootstrap_servers, "leadloop.outcomes") as reader:
        closed = await reader.wait_for(lambda evs: any(
            e.type == "leadloop.deal.closed.v1" and e.subject == hot[0] for e in evs))
    assert any(e.data.get("amount_minor") == 1_250_000 for e in closed if e.subject == hot[0])

    async def funnel_complete() -> dict[str, int]:
        r = await http.get(f"{stack.url('outcomes')}/v1/funnel", headers=admin_headers,
                           params={"from": started.isoformat()})
        assert r.status_code == 200, r.text
        counts = {s["stage"]: s["count"] for s in r.json()["stages"]}
        assert counts["lead"] == 5 and counts["mql"] == 3 and counts["handed_off"] == 3
        assert counts["won"] == 1
        return counts
    await eventually(funnel_complete)


async def test_duplicate_form_post_updates_the_same_lead(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    body = unqualified_lead()
    first = await http.post(f"{stack.url('capture')}/v1/leads", json=body, headers=admin_headers)
    again = await http.post(f"{stack.url('capture')}/v1/leads", headers=admin_headers,
                            json={**body, "email": body["email"].upper(), "last_name": "Smith"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == {"lead_id": first.json()["lead_id"], "status": "updated"}


async def test_bad_lead_is_refused_naming_each_field_and_reason(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    r = await http.post(f"{stack.url('capture')}/v1/leads", headers=admin_headers,
                        json={"email": "not-an-email", "country": "Atlantis", "company_size": -3})
    assert r.status_code == 422
    fields = {e["field"]: e["reason"] for e in r.json()["errors"]}
    assert set(fields) == {"email", "country", "company_size"}
    assert "@" in fields["email"]


async def test_every_service_is_ready_and_serves_its_event_contract(
        stack: Stack, http: httpx.AsyncClient) -> None:
    for name in stack.services:
        ready = await http.get(f"{stack.url(name)}/readyz", params={"strict": "true"})
        assert ready.json()["ready"] is True, (name, ready.text)
        document = (await http.get(f"{stack.url(name)}/asyncapi.json")).json()
        assert document["channels"][name]["address"] == f"leadloop.{name}"
        metrics = (await http.get(f"{stack.url(name)}/metrics")).text
        assert "leadloop_events_published_total" in metrics
