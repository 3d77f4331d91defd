"""Handoff end to end, from a sales team's side: what a handed-off lead carries, the half-time
reminder, reject reasons, conversion, speed-to-lead metrics and rule versions."""

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks import Webhook

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead, service_dsn
from tests.e2e.handoff_fixtures import SalesTool, assignment_of, sales_tool, team_with_rule
from tests.support import TopicReader, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]
__all__ = ["sales_tool"]  # a fixture: imported so pytest finds it

HANDED_OFF = "leadloop.lead.handed_off.v1"
REJECTED = "leadloop.lead.rejected.v1"
REMINDER = "leadloop.lead.sla_reminder.v1"


def _campaign() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


async def _timers_fired(stack: Stack, assignment_id: str) -> dict[str, bool]:
    """Which of the assignment's SLA timers have fired (kind → fired), from handoff's
    database: the only place that says a timer came due and did nothing."""
    conn = await asyncpg.connect(service_dsn(stack, "handoff"))
    try:
        rows = await conn.fetch("SELECT kind, fired_at IS NOT NULL AS fired FROM sla_timers "
                                "WHERE assignment_id = $1", uuid.UUID(assignment_id))
    finally:
        await conn.close()
    return {row["kind"]: row["fired"] for row in rows}


async def test_half_time_reminder_reaches_the_sales_tool_once_and_never_after_an_accept(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        sales_tool: tuple[str, type[SalesTool]]) -> None:
    url, receiver = sales_tool
    base = stack.url("handoff")
    created = await http.post(f"{base}/v1/webhooks", headers=admin_headers,
                              json={"name": "reminders", "url": url, "event_types": [REMINDER]})
    assert created.status_code == 201, created.text
    subscriber = created.json()
    campaign = _campaign()
    # 20 s to accept: the reminder comes after 10 s, leaving time to accept before the deadline.
    _team, (ada, ben), rule_id = await team_with_rule(http, stack, admin_headers, campaign, 20)
    try:
        ignored = await assignment_of(http, stack, admin_headers, await post_lead(
            http, stack, admin_headers, {**qualified_lead(), "source": {"utm_campaign": campaign}}))
        taken = await assignment_of(http, stack, admin_headers, await post_lead(
            http, stack, admin_headers, {**qualified_lead(), "source": {"utm_campaign": campaign}}))
        assert ignored["rep"]["id"] == ada and taken["rep"]["id"] == ben
        accepted = await http.post(f"{base}/v1/assignments/{taken['id']}/accept",
                                   headers=admin_headers)
        assert accepted.status_code == 200 and accepted.json()["reminded_at"] is None

        def reminders(assignment: dict[str, Any]) -> list[dict[str, Any]]:
            bodies = [Webhook(subscriber["secret"]).verify(body, headers)
                      for headers, body in receiver.received]
            return [b for b in bodies if b["data"]["assignment_id"] == assignment["id"]]

        async def reminded() -> None:
            assert reminders(ignored)

        await eventually(reminded, timeout_s=60)
        reminder = reminders(ignored)[0]
        assert reminder["type"] == REMINDER
        assert reminder["data"]["rep_id"] == ada
        assert reminder["data"]["lead_id"] == ignored["lead"]["lead_id"]
        assert reminder["data"]["deadline"].replace("+00:00", "Z") == ignored[
            "sla_deadline"].replace("+00:00", "Z")
        current = (await http.get(f"{base}/v1/assignments/{ignored['id']}",
                                  headers=admin_headers)).json()
        assert current["reminded_at"] is not None and current["status"] == "assigned"

        # Ada accepts after the reminder; her deadline then comes and goes without a word.
        assert (await http.post(f"{base}/v1/assignments/{ignored['id']}/accept",
                                headers=admin_headers)).status_code == 200

        async def both_came_due() -> None:
            assert await _timers_fired(stack, ignored["id"]) == {"reminder": True,
                                                                 "deadline": True}
            assert (await _timers_fired(stack, taken["id"]))["reminder"] is True

        await eventually(both_came_due, timeout_s=60)
        assert len(reminders(ignored)) == 1, "exactly one reminder"
        assert reminders(taken) == [], "no reminder for a lead accepted before half time"
        for assignment in (ignored, taken):
            after = (await http.get(f"{base}/v1/assignments/{assignment['id']}",
                                    headers=admin_headers)).json()
            assert after["status"] == "accepted" and after["breaches"] == 0
        assert after["reminded_at"] is None
    finally:
        await http.patch(f"{base}/v1/webhooks/{subscriber['id']}", headers=admin_headers,
                         json={"enabled": False})
        await http.delete(f"{base}/v1/routing-rules/{rule_id}", headers=admin_headers)


async def _histogram_counts(http: httpx.AsyncClient, stack: Stack) -> dict[str, float]:
    """The _count of every handoff histogram on its /metrics page."""
    page = (await http.get(f"{stack.url('handoff')}/metrics")).text
    return {sample.name: sample.value for family in text_string_to_metric_families(page)
            if family.type == "histogram" for sample in family.samples
            if sample.name.endswith("_count")}


async def test_speed_to_lead_histograms_count_the_handoff_and_the_first_contact(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    created_to_handoff = "leadloop_handoff_created_to_handed_off_seconds_count"
    handoff_to_contact = "leadloop_handoff_handed_off_to_first_contact_seconds_count"
    campaign = _campaign()
    _team, _reps, rule_id = await team_with_rule(http, stack, admin_headers, campaign, 600)
    before = await _histogram_counts(http, stack)
    lead_id = await post_lead(http, stack, admin_headers,
                              {**qualified_lead(), "source": {"utm_campaign": campaign}})
    assignment = await assignment_of(http, stack, admin_headers, lead_id)

    async def handoff_measured() -> None:
        after = await _histogram_counts(http, stack)
        assert after[created_to_handoff] >= before.get(created_to_handoff, 0) + 1

    await eventually(handoff_measured)
    contact_before = (await _histogram_counts(http, stack)).get(handoff_to_contact, 0)
    for _ in range(2):  # only the first touch counts
        touched = await http.post(
            f"{stack.url('handoff')}/v1/assignments/{assignment['id']}/contacted",
            headers=admin_headers, json={"channel": "phone"})
        assert touched.status_code == 200, touched.text
    assert (await _histogram_counts(http, stack))[handoff_to_contact] == contact_before + 1
    await http.delete(f"{stack.url('handoff')}/v1/routing-rules/{rule_id}", headers=admin_headers)


async def test_converted_lead_leaves_the_reps_queue_and_only_after_an_accept(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("handoff")
    campaign = _campaign()
    _team, (ada, _ben), rule_id = await team_with_rule(http, stack, admin_headers, campaign, 600)
    lead_id = await post_lead(http, stack, admin_headers,
                              {**qualified_lead(), "source": {"utm_campaign": campaign}})
    assignment = await assignment_of(http, stack, admin_headers, lead_id)
    assert assignment["rep"]["id"] == ada

    too_early = await http.post(f"{base}/v1/assignments/{assignment['id']}/converted",
                                headers=admin_headers, json={"opportunity_ref": "OPP-1"})
    assert too_early.status_code == 409 and "accept it first" in too_early.text
    assert (await http.post(f"{base}/v1/assignments/{assignment['id']}/accept",
                            headers=admin_headers)).status_code == 200
    converted = await http.post(f"{base}/v1/assignments/{assignment['id']}/converted",
                                headers=admin_headers, json={"opportunity_ref": "OPP-1"})
    assert converted.status_code == 200, converted.text
    body = converted.json()
    assert body["status"] == "converted" and body["opportunity_ref"] == "OPP-1"
    assert body["converted_at"] is not None
    queue = (await http.get(f"{base}/v1/reps/{ada}/queue", headers=admin_headers)).json()
    assert lead_id not in {a["lead"]["lead_id"] for a in queue["items"]}
    await http.delete(f"{base}/v1/routing-rules/{rule_id}", headers=admin_headers)


async def test_handed_off_lead_carries_consent_recent_activity_and_campaign(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    campaign = _campaign()
    _team, _reps, rule_id = await team_with_rule(http, stack, admin_headers, campaign, 600)
    # No company size or phone: a B-grade lead short of an MQL until it looks at pricing.
    lead = {**qualified_lead(), "source": {"channel": "form", "campaign": "spring-webinar",
                                           "utm_campaign": campaign}}
    del lead["company_size"], lead["phone"]
    async with TopicReader(stack.bootstrap_servers, "leadloop.handoff") as sales:
        lead_id = await post_lead(http, stack, admin_headers, lead)
        viewed = await http.post(f"{stack.url('capture')}/v1/activities", headers=admin_headers,
                                 json={"kind": "page_view", "lead_id": lead_id,
                                       "url": "https://www.example.com/pricing"})
        assert viewed.status_code == 202, viewed.text
        events = await sales.wait_for(lambda evs: any(
            e.subject == lead_id and e.type == HANDED_OFF for e in evs), timeout_s=60)
    data = next(e.data for e in events if e.subject == lead_id and e.type == HANDED_OFF)
    assert data["consent"]["email_marketing"] is True
    assert data["consent"]["text"] == "Send me news" and data["consent"]["version"] == "2026-01"
    assert data["source"]["campaign"] == "spring-webinar"
    assert data["source"]["utm_campaign"] == campaign
    assert [(a["kind"], a["url"]) for a in data["recent_activities"]] == [
        ("page_view", "https://www.example.com/pricing")]
    assert data["profile"]["email"] == lead["email"].lower()
    await http.delete(f"{stack.url('handoff')}/v1/routing-rules/{rule_id}", headers=admin_headers)


async def test_rejecting_as_other_needs_a_note_which_reaches_lead_rejected(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("handoff")
    campaign = _campaign()
    _team, _reps, rule_id = await team_with_rule(http, stack, admin_headers, campaign, 600)
    async with TopicReader(stack.bootstrap_servers, "leadloop.handoff") as sales:
        lead_id = await post_lead(http, stack, admin_headers,
                                  {**qualified_lead(), "source": {"utm_campaign": campaign}})
        assignment = await assignment_of(http, stack, admin_headers, lead_id)
        reject = f"{base}/v1/assignments/{assignment['id']}/reject"
        for body, field in (({"reason_code": "other"}, "note"),
                            ({"reason_code": "other", "note": "   "}, "note"),
                            ({"reason_code": "too_expensive", "note": "x"}, "reason_code")):
            refused = await http.post(reject, headers=admin_headers, json=body)
            assert refused.status_code == 422, (body, refused.text)
            assert field in {e["field"] for e in refused.json()["errors"]}, refused.text
        still = (await http.get(f"{base}/v1/assignments/{assignment['id']}",
                                headers=admin_headers)).json()
        assert still["status"] == "assigned", "a refused rejection changes nothing"

        note = "Reseller, not an end customer"
        done = await http.post(reject, headers=admin_headers,
                               json={"reason_code": "other", "note": note})
        assert done.status_code == 200, done.text
        assert done.json()["rejection_reason"] == "other"
        assert done.json()["rejection_note"] == note
        events = await sales.wait_for(lambda evs: any(
            e.subject == lead_id and e.type == REJECTED for e in evs))
    rejected = next(e.data for e in events if e.subject == lead_id and e.type == REJECTED)
    assert rejected["reason_code"] == "other" and rejected["note"] == note
    await http.delete(f"{base}/v1/routing-rules/{rule_id}", headers=admin_headers)


async def test_rule_versions_list_every_version_newest_first(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("handoff")
    campaign = _campaign()
    team, _reps, rule_id = await team_with_rule(http, stack, admin_headers, campaign, 600)
    changed = await http.put(f"{base}/v1/routing-rules/{rule_id}", headers=admin_headers, json={
        "name": f"campaign-{campaign}", "position": 10, "team": team, "accept_sla_s": 120,
        "conditions": [{"field": "source.utm_campaign", "op": "eq", "value": campaign}]})
    assert changed.status_code == 200, changed.text
    versions = await http.get(f"{base}/v1/routing-rules/{rule_id}/versions",
                              headers=admin_headers)
    assert versions.status_code == 200, versions.text
    rules = versions.json()["rules"]
    assert [(r["version"], r["accept_sla_s"], len(r["conditions"])) for r in rules] == [
        (2, 120, 1), (1, 600, 2)]
    assert {r["id"] for r in rules} == {rule_id}
    unknown = await http.get(f"{base}/v1/routing-rules/{uuid.uuid4()}/versions",
                             headers=admin_headers)
    assert unknown.status_code == 404
    await http.delete(f"{base}/v1/routing-rules/{rule_id}", headers=admin_headers)
