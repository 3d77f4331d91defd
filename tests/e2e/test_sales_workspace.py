"""The sales workspace against the running stack: keys bound to reps see and act on their own
leads only, managers see their team's, and a lead in the fallback queue alerts its managers and
is assigned by one of them (the sales tool hears lead.handed_off)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead
from tests.e2e.handoff_fixtures import (
    SalesTool,
    assignment_of,
    rep_key,
    sales_team,
    sales_tool,
)
from tests.support import TopicReader, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]
__all__ = ["sales_tool"]  # the fixture, used by name

HANDED_OFF = "leadloop.lead.handed_off.v1"
QUEUE_ALERT = "leadloop.lead.queue_alert.v1"
ACCEPTED = "leadloop.lead.accepted.v1"


def _headers(key: dict[str, str]) -> dict[str, str]:
    return {"X-API-Key": key["X-API-Key"]}


async def test_a_reps_key_sees_and_acts_on_its_own_leads_and_a_managers_on_the_team(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("handoff")
    team, campaign, ada, ben, mia = await sales_team(http, stack, admin_headers)
    ada_key = await rep_key(http, stack, admin_headers, ada)
    mia_key = await rep_key(http, stack, admin_headers, mia)
    listed = (await http.get(f"{base}/v1/reps/{ada}/keys", headers=admin_headers)).json()
    assert [k["name"] for k in listed["items"]] == ["laptop"]
    assert "key" not in listed["items"][0]  # shown once, at minting

    async with TopicReader(stack.bootstrap_servers, "leadloop.handoff") as sales_tool_feed:
        leads = [await post_lead(http, stack, admin_headers,
                                 {**qualified_lead(), "source": {"utm_campaign": campaign}})
                 for _ in range(2)]
        held = {lead: await assignment_of(http, stack, admin_headers, lead) for lead in leads}
        by_rep = {a["rep"]["id"]: a for a in held.values()}
        assert set(by_rep) == {ada, ben}  # round-robin: one each
        adas, bens = by_rep[ada], by_rep[ben]

        # Ada's key: her lead only. Ben's lead is refused, to read and to act on.
        mine = (await http.get(f"{base}/v1/assignments", headers=_headers(ada_key))).json()
        assert [a["id"] for a in mine["items"]] == [adas["id"]]
        assert mine["next_cursor"] is None
        for refused in (
                await http.post(f"{base}/v1/assignments/{bens['id']}/accept",
                                headers=_headers(ada_key)),
                await http.get(f"{base}/v1/assignments/{bens['id']}", headers=_headers(ada_key)),
                await http.get(f"{base}/v1/reps/{ben}/queue", headers=_headers(ada_key)),
                await http.get(f"{base}/v1/fallback-queue", headers=_headers(ada_key))):
            assert refused.status_code == 403, refused.text
        accepted = await http.post(f"{base}/v1/assignments/{adas['id']}/accept",
                                   headers=_headers(ada_key))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["accepted_by"] == f"rep:ada.{team}@sales.example/laptop"
        events = await sales_tool_feed.wait_for(lambda evs: any(
            e.type == ACCEPTED and e.data["assignment_id"] == adas["id"] for e in evs))
        [event] = [e for e in events if e.type == ACCEPTED and
                   e.data["assignment_id"] == adas["id"]]
        assert event.data["by"] == {"name": f"rep:ada.{team}@sales.example/laptop",
                                    "rep_id": ada}

    # Mia manages Ada and Ben: she sees both leads, in SLA order, and may act on Ben's.
    me = (await http.get(f"{base}/v1/me", headers=_headers(mia_key))).json()
    assert me["manager"] and set(me["teams"]) == {team, f"{team}-mgmt"}
    seen = (await http.get(f"{base}/v1/assignments", headers=_headers(mia_key))).json()
    assert {a["id"] for a in seen["items"]} == {adas["id"], bens["id"]}
    deadlines = [a["sla_deadline"] for a in seen["items"]]
    assert deadlines == sorted(deadlines)
    contacted = await http.post(f"{base}/v1/assignments/{bens['id']}/contacted",
                                headers=_headers(mia_key), json={"channel": "phone"})
    assert contacted.status_code == 200 and contacted.json()["contacted_by"].startswith("rep:mia")

    # Pages of one: the same two assignments, then a null cursor.
    first = (await http.get(f"{base}/v1/assignments", params={"limit": 1},
                            headers=_headers(mia_key))).json()
    second = (await http.get(f"{base}/v1/assignments",
                             params={"limit": 1, "cursor": first["next_cursor"]},
                             headers=_headers(mia_key))).json()
    assert [a["id"] for a in first["items"] + second["items"]] == [a["id"] for a in seen["items"]]
    assert second["next_cursor"] is None
    forged = await http.get(f"{base}/v1/assignments", params={"cursor": "bm9wZQ"},
                            headers=_headers(mia_key))
    assert forged.status_code == 422 and forged.json()["errors"][0]["field"] == "cursor"

    # A revoked key opens nothing.
    revoked = await http.delete(f"{base}/v1/reps/{ada}/keys/{ada_key['key_id']}",
                                headers=admin_headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    gone = await http.get(f"{base}/v1/assignments", headers=_headers(ada_key))
    assert gone.status_code == 401


async def test_a_fallback_lead_alerts_the_managers_and_one_assigns_it_to_a_rep(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        sales_tool: tuple[str, type[SalesTool]]) -> None:
    base = stack.url("handoff")
    url, tool = sales_tool
    subscriber = await http.post(f"{base}/v1/webhooks", headers=admin_headers, json={
        "name": "crm", "url": url, "event_types": [HANDED_OFF, QUEUE_ALERT]})
    assert subscriber.status_code == 201, subscriber.text
    team, campaign, ada, ben, mia = await sales_team(http, stack, admin_headers)
    now = datetime.now(UTC)
    # Nobody can take a lead: Ada is away, Ben inactive.
    for rep_id, change in ((ada, {"out_of_office_from": (now - timedelta(hours=1)).isoformat(),
                                  "out_of_office_to": (now + timedelta(days=1)).isoformat()}),
                           (ben, {"active": False})):
        patched = await http.patch(f"{base}/v1/reps/{rep_id}", headers=admin_headers,
                                   json=change)
        assert patched.status_code == 200, patched.text
    ada_key = await rep_key(http, stack, admin_headers, ada)
    mia_key = await rep_key(http, stack, admin_headers, mia)

    def delivered(event_type: str, lead_id: str) -> list[dict[str, Any]]:
        bodies = [json.loads(body) for _headers, body in tool.received]
        return [b for b in bodies if b["type"] == event_type and b["data"]["lead_id"] == lead_id]

    try:
        lead_id = await post_lead(http, stack, admin_headers,
                                  {**qualified_lead(), "source": {"utm_campaign": campaign}})
        queued = await assignment_of(http, stack, admin_headers, lead_id)
        assert queued["status"] == "queued" and queued["rep"] is None

        # The managers hear of it at once (webhook and email), and again while it waits.
        async def alerted_twice() -> list[dict[str, Any]]:
            alerts = delivered(QUEUE_ALERT, lead_id)
            assert len(alerts) >= 2
            return alerts
        alerts = await eventually(alerted_twice, timeout_s=60)
        first = alerts[0]["data"]
        assert [m["id"] for m in first["managers"]] == [mia] and first["team"] == team
        assert first["alert"] == 1 and alerts[1]["data"]["alert"] == 2
        print(f"\nfallback queue -> managers alerted in {first['waited_s']:.2f} s")
        assert alerts[1]["data"]["waited_s"] >= 10  # LEADLOOP_HANDOFF_QUEUE_REALERT_S

        async def mailed() -> None:
            mails = [m for m in stack.received_mail() if f"mia.{team}@" in m["To"]
                     and "fallback queue" in m["Subject"]]
            assert mails
            assert f"/sales/leads/{lead_id}" in mails[0].get_content()
        await eventually(mailed, timeout_s=30)

        # A rep may not see the fallback queue; the manager sees the lead there.
        assert (await http.get(f"{base}/v1/fallback-queue",
                               headers=_headers(ada_key))).status_code == 403
        waiting = (await http.get(f"{base}/v1/fallback-queue",
                                  headers=_headers(mia_key))).json()
        assert lead_id in {a["lead"]["lead_id"] for a in waiting["items"]}
        assert {a["team"] for a in waiting["items"]} <= {team, f"{team}-mgmt"}

        # Only a manager assigns; the reason is required; a rep of another team is refused.
        reason = "Ada is back tomorrow and owns DACH"
        by_rep = await http.post(f"{base}/v1/assignments/{lead_id}/assign",
                                 headers=_headers(ada_key), json={"rep_id": ada, "reason": reason})
        assert by_rep.status_code == 403
        no_reason = await http.post(f"{base}/v1/assignments/{lead_id}/assign",
                                    headers=_headers(mia_key), json={"rep_id": ada})
        assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
        assigned = await http.post(f"{base}/v1/assignments/{lead_id}/assign",
                                   headers=_headers(mia_key),
                                   json={"rep_id": ada, "reason": reason})
        assert assigned.status_code == 200, assigned.text
        body = assigned.json()
        assert body["status"] == "assigned" and body["rep"]["id"] == ada
        assert body["routing_rule"] == "manual" and reason in body["routing_reason"]
        assert body["sla_deadline"] is not None

        # The sales tool hears it like any other hand-off; Ada's key now sees the lead.
        async def handed_to_ada() -> dict[str, Any]:
            handoffs = [h for h in delivered(HANDED_OFF, lead_id) if h["data"]["rep"]]
            assert len(handoffs) == 1, [(json.loads(b)["type"], json.loads(b)["data"].get(
                "lead_id") == lead_id) for _h, b in tool.received]
            return handoffs[0]
        handoff = (await eventually(handed_to_ada, timeout_s=60))["data"]
        assert handoff["rep"]["id"] == ada and handoff["routing_rule"] == "manual"
        assert handoff["assigned_by"]["rep_id"] == mia
        mine = (await http.get(f"{base}/v1/assignments", headers=_headers(ada_key))).json()
        assert lead_id in {a["lead"]["lead_id"] for a in mine["items"]}
        waiting = (await http.get(f"{base}/v1/fallback-queue", params={"team": team},
                                  headers=_headers(mia_key))).json()
        assert lead_id not in {a["lead"]["lead_id"] for a in waiting["items"]}
        # Assigning to whoever holds it already is a conflict, not a second hand-off.
        again = await http.post(f"{base}/v1/assignments/{lead_id}/assign",
                                headers=_headers(mia_key), json={"rep_id": ada, "reason": reason})
        assert again.status_code == 409
    finally:
        await http.patch(f"{base}/v1/webhooks/{subscriber.json()['id']}",
                         headers=admin_headers, json={"enabled": False})
