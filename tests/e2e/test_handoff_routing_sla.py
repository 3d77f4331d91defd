"""Handoff end to end: rules route to teams, a short accept SLA reassigns a lead exactly once
even when handoff is killed in the middle, and webhooks reach a sales tool signed and retried."""

import json
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import httpx
import pytest
from standardwebhooks import Webhook

from leadloop.events import CloudEvent
from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead
from tests.e2e.handoff_fixtures import assignment_of, team_with_rule
from tests.support import TopicReader, eventually, local_webhook_receiver

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

HANDED_OFF = "leadloop.lead.handed_off.v1"
BREACHED = "leadloop.lead.sla_breached.v1"
ACCEPTED = "leadloop.lead.accepted.v1"


def _of_lead(events: list[CloudEvent], lead_id: str, kind: str) -> list[CloudEvent]:
    return [e for e in events if e.subject == lead_id and e.type == kind]


async def test_routing_rule_sends_lead_to_its_team_and_says_why(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    team, rep_ids, rule_id = await team_with_rule(http, stack, admin_headers, campaign, 600)
    lead_id = await post_lead(http, stack, admin_headers,
                              {**qualified_lead(), "source": {"utm_campaign": campaign}})

    assignment = await assignment_of(http, stack, admin_headers, lead_id)
    assert assignment["team"] == team and assignment["rep"]["id"] == rep_ids[0]
    assert assignment["rule_id"] == rule_id and assignment["rule_version"] == 1
    assert assignment["routing_rule"] == f"campaign-{campaign}@v1"
    assert f"source.utm_campaign eq {campaign}" in assignment["routing_reason"]
    queue = await http.get(f"{stack.url('handoff')}/v1/reps/{rep_ids[0]}/queue",
                           headers=admin_headers)
    assert [a["lead"]["lead_id"] for a in queue.json()["items"]] == [lead_id]
    await http.delete(f"{stack.url('handoff')}/v1/routing-rules/{rule_id}", headers=admin_headers)


async def test_named_account_owner_wins_unless_out_of_office(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    team, (ada, _ben), rule_id = await team_with_rule(http, stack, admin_headers, campaign, 600)
    body = {**qualified_lead(), "source": {"utm_campaign": campaign}}
    domain = body["email"].split("@")[1].lower()
    owner = await http.post(f"{stack.url('handoff')}/v1/reps", headers=admin_headers, json={
        "name": "Olga Owner", "email": f"olga.{team}@sales.example", "team": f"{team}-keys",
        "capacity": 5, "named_accounts": [domain.upper()], "territories": ["de"],
        "working_hours": {"time_zone": "Europe/Berlin", "start": "00:00", "end": "23:59",
                          "days": [0, 1, 2, 3, 4, 5, 6]}})
    assert owner.status_code == 201, owner.text
    assert owner.json()["named_accounts"] == [domain] and owner.json()["territories"] == ["DE"]

    first = await assignment_of(http, stack, admin_headers,
                                await post_lead(http, stack, admin_headers, body))
    assert first["rep"]["id"] == owner.json()["id"] and first["routing_rule"] == "named-account"
    assert domain in first["routing_reason"]

    away = await http.patch(f"{stack.url('handoff')}/v1/reps/{owner.json()['id']}",
                            headers=admin_headers, json={
        "out_of_office_from": "2020-01-01T00:00:00Z", "out_of_office_to": "2999-01-01T00:00:00Z"})
    assert away.status_code == 200, away.text
    second = await assignment_of(http, stack, admin_headers, await post_lead(
        http, stack, admin_headers, {**body, "email": f"cto@{domain}"}))
    assert second["rep"]["id"] == ada and second["team"] == team
    assert "Olga Owner" in second["routing_reason"] and "unavailable" in second["routing_reason"]
    await http.delete(f"{stack.url('handoff')}/v1/routing-rules/{rule_id}", headers=admin_headers)


async def test_short_sla_reassigns_the_lead_exactly_once_across_a_restart_of_handoff(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    team, (ada, ben), rule_id = await team_with_rule(http, stack, admin_headers, campaign, 5)
    async with TopicReader(stack.bootstrap_servers, "leadloop.handoff") as sales_tool:
        lead_id = await post_lead(http, stack, admin_headers,
                                  {**qualified_lead(), "source": {"utm_campaign": campaign}})
        events = await sales_tool.wait_for(lambda evs: bool(_of_lead(evs, lead_id, HANDED_OFF)))
        first = _of_lead(events, lead_id, HANDED_OFF)[0].data
        assert first["rep"]["id"] == ada
        # Version 2 of the rule gives the next rep ten minutes; Ada's 5 s stand.
        relaxed = await http.put(f"{stack.url('handoff')}/v1/routing-rules/{rule_id}",
                                 headers=admin_headers, json={
            "name": f"campaign-{campaign}", "position": 10, "team": team, "accept_sla_s": 600,
            "conditions": [{"field": "source.utm_campaign", "op": "eq", "value": campaign}]})
        assert relaxed.status_code == 200 and relaxed.json()["version"] == 2, relaxed.text

        # The timer is a database row: killing handoff before the deadline must not lose it.
        stack.kill_service("handoff")
        killed_at = time.time()
        await stack.start_service("handoff")

        events = await sales_tool.wait_for(
            lambda evs: len(_of_lead(evs, lead_id, HANDED_OFF)) >= 2, timeout_s=60)
        second = _of_lead(events, lead_id, HANDED_OFF)[1].data
        assert second["rep"]["id"] == ben
        accept = await http.post(
            f"{stack.url('handoff')}/v1/assignments/{second['assignment_id']}/accept",
            headers=admin_headers)
        assert accept.status_code == 200, accept.text
        events = await sales_tool.wait_for(lambda evs: bool(_of_lead(evs, lead_id, ACCEPTED)))

    breaches = _of_lead(events, lead_id, BREACHED)
    assert len(breaches) == 1, [b.data for b in breaches]
    breach = breaches[0].data
    assert breach["assignment_id"] == first["assignment_id"] and breach["rep_id"] == ada
    assert breach["action"] == "reassigned" and breach["next_rep_id"] == ben
    assert breaches[0].time.timestamp() >= killed_at, "the deadline fired after the restart"
    assert len(_of_lead(events, lead_id, HANDED_OFF)) == 2
    assert "accept SLA missed" in second["routing_reason"]
    current = await http.get(f"{stack.url('handoff')}/v1/leads/{lead_id}/assignment",
                             headers=admin_headers)
    assert current.json()["rule_version"] == 2 and current.json()["breaches"] == 1
    old = await http.get(f"{stack.url('handoff')}/v1/assignments/{first['assignment_id']}",
                         headers=admin_headers)
    assert old.json()["status"] == "reassigned"
    assert (await http.post(
        f"{stack.url('handoff')}/v1/assignments/{first['assignment_id']}/accept",
        headers=admin_headers)).status_code == 409, "the lapsed rep cannot accept any more"
    await http.delete(f"{stack.url('handoff')}/v1/routing-rules/{rule_id}", headers=admin_headers)


class _Receiver(BaseHTTPRequestHandler):
    """A sales tool: answers 500 to the first try of each message, 200 after."""

    received: ClassVar[list[tuple[dict[str, str], bytes, int]]] = []
    seen: ClassVar[set[str]] = set()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        msg_id = self.headers.get("webhook-id", "")
        code = 200 if msg_id in self.seen else 500
        self.seen.add(msg_id)
        self.received.append((dict(self.headers.items()), body, code))
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "seen": set()})
    with local_webhook_receiver(handler) as url:
        yield url, handler


async def test_webhook_is_signed_and_retried_after_a_server_error(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        receiver: tuple[str, type[_Receiver]], reps: list[dict[str, Any]]) -> None:
    url, handler = receiver
    created = await http.post(f"{stack.url('handoff')}/v1/webhooks", headers=admin_headers,
                              json={"name": "crm", "url": url, "event_types": [HANDED_OFF]})
    assert created.status_code == 201, created.text
    subscriber = created.json()
    try:
        lead_id = await post_lead(http, stack, admin_headers, qualified_lead())

        def ours() -> list[tuple[dict[str, str], bytes, int]]:
            return [r for r in handler.received if json.loads(r[1])["data"]["lead_id"] == lead_id]

        async def delivered() -> None:
            assert [code for _h, _b, code in ours()] == [500, 200]

        await eventually(delivered, timeout_s=60)
        verifier = Webhook(subscriber["secret"])
        for headers, body, _code in ours():
            payload = verifier.verify(body, headers)
            assert payload["type"] == HANDED_OFF and payload["data"]["rep"] is not None
        assert ours()[0][0]["webhook-id"] == ours()[1][0]["webhook-id"], "a retry, same id"

        async def logged() -> None:
            log = await http.get(
                f"{stack.url('handoff')}/v1/webhooks/{subscriber['id']}/deliveries",
                headers=admin_headers)
            entry = next(d for d in log.json()["items"] if d["lead_id"] == lead_id)
            assert entry["status"] == "delivered"
            assert [a["status_code"] for a in entry["log"]] == [500, 200]

        await eventually(logged)

        # After a rotation both secrets sign, so receivers can switch without losing messages.
        rotated = await http.post(
            f"{stack.url('handoff')}/v1/webhooks/{subscriber['id']}/rotate-secret",
            headers=admin_headers)
        assert rotated.status_code == 200 and rotated.json()["secret"] != subscriber["secret"]
        next_lead = await post_lead(http, stack, admin_headers, qualified_lead())

        async def signed_both_ways() -> None:
            sent = [r for r in handler.received
                    if json.loads(r[1])["data"]["lead_id"] == next_lead]
            assert sent
            for secret in (rotated.json()["secret"], subscriber["secret"]):
                Webhook(secret).verify(sent[0][1], sent[0][0])

        await eventually(signed_both_ways, timeout_s=60)
    finally:
        await http.patch(f"{stack.url('handoff')}/v1/webhooks/{subscriber['id']}",
                         headers=admin_headers, json={"enabled": False})


async def test_repeated_breaches_escalate_to_the_manager_then_queue_the_lead(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    team, (ada, ben), rule_id = await team_with_rule(http, stack, admin_headers, campaign, 1)
    manager = await http.post(f"{stack.url('handoff')}/v1/reps", headers=admin_headers, json={
        "name": "Mia Manager", "email": f"mia.{team}@sales.example", "team": f"{team}-mgmt",
        "capacity": 5})
    assert manager.status_code == 201, manager.text
    mia = manager.json()["id"]
    for rep_id in (ada, ben):
        patched = await http.patch(f"{stack.url('handoff')}/v1/reps/{rep_id}",
                                   headers=admin_headers, json={"manager_id": mia})
        assert patched.status_code == 200 and patched.json()["manager_id"] == mia

    async with TopicReader(stack.bootstrap_servers, "leadloop.handoff") as sales_tool:
        lead_id = await post_lead(http, stack, admin_headers,
                                  {**qualified_lead(), "source": {"utm_campaign": campaign}})
        # Nobody accepts: Ada lapses, then Ben (escalation to Mia), then Mia (nobody left).
        events = await sales_tool.wait_for(
            lambda evs: any(e.data["rep"] is None for e in _of_lead(evs, lead_id, HANDED_OFF)),
            timeout_s=60)

    handoffs = [e.data for e in _of_lead(events, lead_id, HANDED_OFF)]
    assert [h["rep"]["id"] if h["rep"] else None for h in handoffs] == [ada, ben, mia, None]
    breaches = [e.data for e in _of_lead(events, lead_id, BREACHED)]
    assert [(b["rep_id"], b["action"], b["next_rep_id"]) for b in breaches] == [
        (ada, "reassigned", ben), (ben, "escalated", mia), (mia, "queued", None)]
    assert handoffs[2]["routing_rule"] == "sla-escalation"
    queue = await http.get(f"{stack.url('handoff')}/v1/fallback-queue",
                           params={"team": team}, headers=admin_headers)
    assert lead_id in {a["lead"]["lead_id"] for a in queue.json()["items"]}
    await http.delete(f"{stack.url('handoff')}/v1/routing-rules/{rule_id}", headers=admin_headers)


async def test_fallback_queue_drains_when_a_rep_gets_capacity(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("handoff")
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    team = f"t-{uuid.uuid4().hex[:8]}"
    created = await http.post(f"{base}/v1/reps", headers=admin_headers, json={
        "name": f"Solo {team}", "email": f"solo.{team}@sales.example", "team": team,
        "capacity": 1})
    assert created.status_code == 201, created.text
    solo = created.json()["id"]
    rule = await http.post(f"{base}/v1/routing-rules", headers=admin_headers, json={
        "name": f"campaign-{campaign}", "position": 10, "team": team, "accept_sla_s": 600,
        "conditions": [{"field": "source.utm_campaign", "op": "eq", "value": campaign}]})
    assert rule.status_code == 201, rule.text
    body = {**qualified_lead(), "source": {"utm_campaign": campaign}}

    async with TopicReader(stack.bootstrap_servers, "leadloop.handoff") as sales_tool:
        leads = []
        for _ in range(3):
            leads.append(await post_lead(http, stack, admin_headers,
                                         {**body, "email": qualified_lead()["email"]}))
        events = await sales_tool.wait_for(lambda evs: all(
            _of_lead(evs, lead_id, HANDED_OFF) for lead_id in leads), timeout_s=60)
        first_reps = [_of_lead(events, lead_id, HANDED_OFF)[0].data["rep"] for lead_id in leads]
        assert [rep["id"] if rep else None for rep in first_reps].count(solo) == 1
        held = leads[[rep is not None for rep in first_reps].index(True)]
        queue = (await http.get(f"{base}/v1/fallback-queue", params={"team": team},
                                headers=admin_headers)).json()
        waiting = [a["lead"]["lead_id"] for a in queue["items"]
                   if a["lead"]["lead_id"] in leads]  # oldest first
        assert sorted(waiting) == sorted(set(leads) - {held})

        # The rep turns one lead down: the oldest waiting lead takes its place at once.
        held_assignment = _of_lead(events, held, HANDED_OFF)[0].data["assignment_id"]
        rejected = await http.post(f"{base}/v1/assignments/{held_assignment}/reject",
                                   headers=admin_headers, json={"reason_code": "not_a_fit"})
        assert rejected.status_code == 200, rejected.text
        events = await sales_tool.wait_for(
            lambda evs: len(_of_lead(evs, waiting[0], HANDED_OFF)) == 2, timeout_s=60)
        moved = _of_lead(events, waiting[0], HANDED_OFF)[1].data
        assert moved["rep"]["id"] == solo
        assert moved["routing_reason"].startswith("from the fallback queue after")

        # More capacity: the last waiting lead goes to the rep too.
        raised = await http.patch(f"{base}/v1/reps/{solo}", headers=admin_headers,
                                  json={"capacity": 2})
        assert raised.status_code == 200, raised.text
        events = await sales_tool.wait_for(
            lambda evs: len(_of_lead(evs, waiting[1], HANDED_OFF)) == 2, timeout_s=60)
        assert _of_lead(events, waiting[1], HANDED_OFF)[1].data["rep"]["id"] == solo

    queue = (await http.get(f"{base}/v1/fallback-queue", params={"team": team},
                            headers=admin_headers)).json()
    assert not set(leads) & {a["lead"]["lead_id"] for a in queue["items"]}
    left = (await http.get(f"{base}/v1/assignments/{moved['assignment_id']}",
                           headers=admin_headers)).json()
    assert left["status"] == "assigned" and left["breaches"] == 0
    rep_queue = (await http.get(f"{base}/v1/reps/{solo}/queue", headers=admin_headers)).json()
    assert {a["lead"]["lead_id"] for a in rep_queue["items"]} == set(waiting)
    await http.delete(f"{base}/v1/routing-rules/{rule.json()['id']}", headers=admin_headers)
