"""A customer's expansion, end to end: an expansion model (its own kind, activated beside the
qualification model) scores what a customer does after its purchase; when that reaches the
threshold, scoring announces lead.expansion_qualified and handoff gives the customer to the rep
who won it (existing_customer, customer SLA). Sales opens a new deal: the customer's onboarding
exits (deal_opened)."""

import uuid
from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead
from tests.e2e.handoff_fixtures import assignment_of, team_with_rule
from tests.e2e.nurture_fixtures import enrollments_of
from tests.support import TopicReader, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


def _expansion_config(page: str) -> dict[str, Any]:
    """Two visits to `page` since the purchase make a customer ready to buy again. The page is
    this test's own, so the model (left active) touches no other test's customers."""
    return {"kind": "expansion", "repeat_window_days": 90,
            "engagement_rules": [{"id": "upgrade-page", "activity_kind": "page_view",
                                  "url_contains": page, "points": 30, "repeatable": True}],
            "mql": {"min_score": 50, "grades": ["A", "B", "C", "D"]},
            "decay": {"half_life_days": None}}


async def _deal(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str], lead_id: str,
                external_id: str, status: str) -> None:
    r = await http.post(f"{stack.url('outcomes')}/v1/deals", headers=headers, json={
        "external_id": external_id, "lead_id": lead_id, "status": status,
        "amount_minor": 300_000, "currency": "EUR"})
    assert r.status_code == 201, r.text


async def test_a_customers_expansion_score_hands_it_to_its_owner_and_a_new_deal_ends_onboarding(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    scoring, handoff = stack.url("scoring"), stack.url("handoff")
    page = f"/upgrade-{uuid.uuid4().hex[:8]}"
    created = await http.post(f"{scoring}/v1/models", headers=admin_headers, json={
        "name": "expansion", "config": _expansion_config(page), "activate": True})
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    listed = (await http.get(f"{scoring}/v1/models", headers=admin_headers)).json()
    assert listed["active_expansion_version"] == version
    assert listed["active_version"] != version  # the qualification model stays in force

    campaign = f"expand-{uuid.uuid4().hex[:8]}"
    await team_with_rule(http, stack, admin_headers, campaign, 600)
    body = {**qualified_lead(), "source": {"channel": "form", "campaign": campaign,
                                           "utm_campaign": campaign}}
    jane = await post_lead(http, stack, admin_headers, body)
    first = await assignment_of(http, stack, admin_headers, jane)
    owner = first["rep"]["id"]
    await _deal(http, stack, admin_headers, jane, f"crm-{jane}-1", "won")

    async def onboarding_active() -> None:
        enrolled = await enrollments_of(http, stack, admin_headers, jane)
        assert enrolled.get("onboarding", {}).get("status") == "active", enrolled
    await eventually(onboarding_active)

    # Jane keeps coming back to the upgrade page. Scoring hears of the won deal on another
    # topic than the visits, so visits go on until one lands after it (as a customer's would).
    async with TopicReader(stack.bootstrap_servers, "leadloop.scoring") as reader:
        async def handed_to_owner() -> dict[str, Any]:
            r = await http.post(f"{stack.url('capture')}/v1/activities", headers=admin_headers,
                                json={"kind": "page_view", "lead_id": jane,
                                      "url": f"https://widgets.example{page}"})
            assert r.status_code == 202, r.text
            current = await http.get(f"{handoff}/v1/leads/{jane}/assignment",
                                     headers=admin_headers)
            assert current.status_code == 200, current.text
            assert current.json()["id"] != first["id"], current.json()
            return dict(current.json())
        again = await eventually(handed_to_owner, timeout_s=60, interval_s=1)
        events = await reader.wait_for(lambda evs: any(
            e.subject == jane and e.type == "leadloop.lead.expansion_qualified.v1"
            for e in evs))
    assert (again["rep"]["id"], again["routing_rule"]) == (owner, "existing_customer")
    assert "existing customer" in again["routing_reason"]
    expansion = [e.data for e in events if e.subject == jane
                 and e.type == "leadloop.lead.expansion_qualified.v1"]
    assert len(expansion) == 1  # announced once per purchase, however many visits followed
    assert expansion[0]["model_version"] == version and expansion[0]["score"] >= 50
    assert {c["rule_id"] for c in expansion[0]["contributions"]} == {"upgrade-page"}
    # Jane was never qualified again as a new MQL.
    assert not any(e.subject == jane and e.type == "leadloop.lead.qualified.v1"
                   and e.data["qualified_at"] > expansion[0]["customer_since"] for e in events)

    # The owner opens a new deal: onboarding has done its job.
    await _deal(http, stack, admin_headers, jane, f"crm-{jane}-2", "open")

    async def onboarding_exited() -> None:
        run = (await enrollments_of(http, stack, admin_headers, jane))["onboarding"]
        assert (run["status"], run["exit_reason"]) == ("exited", "deal_opened"), run
    await eventually(onboarding_exited)
