"""Nurture end to end: what comes back after a send stops an ACTIVE sequence before its next
email — a reply (reported to nurture, or as a lead.activity email_replied), a bounce reported
later by the mail provider, and an unsubscribe from the confirmation page — while a control
lead of the same sequence gets its next email."""

import uuid

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.nurture_fixtures import cold_lead, create_sequence, mail_to, new_lead, steps_of
from tests.support import TopicReader, eventually, publish_activity
from tests.support.nurture_receivers import ChannelAdapter

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def _enrollment(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                      lead_id: str, key: str) -> dict[str, object]:
    r = await http.get(f"{stack.url('nurture')}/v1/leads/{lead_id}/enrollments", headers=headers)
    assert r.status_code == 200, r.text
    [found] = [e for e in r.json()["items"] if e["sequence_key"] == key]
    return dict(found)


async def test_reply_bounce_and_unsubscribe_each_stop_an_active_sequence(
        stack: Stack, admin_headers: dict[str, str], scoped_keys: dict[str, str],
        http: httpx.AsyncClient) -> None:
    key, campaign = await create_sequence(http, stack, admin_headers, [
        {"kind": "send_email", "template": "welcome"},
        # Long enough for the reports below to land before the second email is due, even the
        # one that travels through Kafka on a loaded machine.
        {"kind": "wait", "seconds": 30},
        {"kind": "send_email", "template": "case-study"},
    ])
    names = ("control", "replied", "replied_elsewhere", "bounced", "unsubscribed")
    bodies = {name: cold_lead(campaign) for name in names}
    leads = {name: await new_lead(http, stack, admin_headers, bodies[name]) for name in names}

    async def first_emails() -> None:
        assert all(steps_of(mail_to(stack, b["email"], key)) == [0] for b in bodies.values())
    await eventually(first_emails)
    welcome = {name: mail_to(stack, bodies[name]["email"], key)[0] for name in names}
    inbound = {"X-API-Key": scoped_keys["nurture:inbound"]}
    nurture = stack.url("nurture")

    # The mail provider reports a reply to the welcome email (by its X-LeadLoop-Message-Id).
    message_id = str(welcome["replied"]["X-LeadLoop-Message-Id"])
    r = await http.post(f"{nurture}/v1/replies", headers=inbound,
                        json={"message_id": message_id})
    assert r.status_code == 202, r.text
    assert r.json() == {"lead_ids": [leads["replied"]], "stopped": True}

    # Another tool reports a reply as a lead.activity of kind email_replied (on capture's
    # topic, as capture's activity feed would carry it).
    await publish_activity(stack.bootstrap_servers, leads["replied_elsewhere"],
                           "email_replied")

    # A bounce reported after the SMTP handover, by address (any case); a soft bounce of the
    # control lead changes nothing.
    r = await http.post(f"{nurture}/v1/bounces", headers=inbound,
                        json={"email": bodies["bounced"]["email"].upper(), "kind": "hard",
                              "reason": "550 5.1.1 user unknown"})
    assert r.status_code == 202, r.text
    assert r.json() == {"lead_ids": [leads["bounced"]], "stopped": True}
    r = await http.post(f"{nurture}/v1/bounces", headers=inbound,
                        json={"email": bodies["control"]["email"], "kind": "soft"})
    assert r.status_code == 202 and r.json()["stopped"] is False, r.text

    # The unsubscribe link opens a confirmation page; its button POSTs the one-click form.
    link = str(welcome["unsubscribed"]["List-Unsubscribe"]).strip().strip("<>")
    page = await http.get(link)
    assert page.status_code == 200, page.text
    assert "Stop all marketing email from us?" in page.text and "<button" in page.text
    r = await http.post(link, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and "You are unsubscribed" in r.text

    async def replied_elsewhere() -> None:
        enrollment = await _enrollment(http, stack, admin_headers, leads["replied_elsewhere"],
                                       key)
        assert (enrollment["status"], enrollment["exit_reason"]) == ("exited", "replied")
    await eventually(replied_elsewhere)
    for name, reason in (("replied", "replied"), ("bounced", "bounced"),
                         ("unsubscribed", "unsubscribed")):
        enrollment = await _enrollment(http, stack, admin_headers, leads[name], key)
        assert (enrollment["status"], enrollment["exit_reason"]) == ("exited", reason), name

    async def control_second_email() -> None:
        assert steps_of(mail_to(stack, bodies["control"]["email"], key)) == [0, 2]
    await eventually(control_second_email)
    for name in ("replied", "replied_elsewhere", "bounced", "unsubscribed"):
        assert steps_of(mail_to(stack, bodies[name]["email"], key)) == [0], name

    # The reply is on the lead's timeline for scoring and reports.
    async with TopicReader(stack.bootstrap_servers, "leadloop.nurture") as reader:
        await reader.wait_for(lambda evs: any(
            e.type == "leadloop.lead.activity.v1" and e.subject == leads["replied"]
            and e.data["kind"] == "email_replied"
            and e.data["properties"] == {"message_id": message_id} for e in evs))


async def test_inbound_reports_name_the_field_that_is_wrong(
        stack: Stack, scoped_keys: dict[str, str], http: httpx.AsyncClient) -> None:
    inbound = {"X-API-Key": scoped_keys["nurture:inbound"]}
    url = f"{stack.url('nurture')}/v1/bounces"
    neither = await http.post(url, headers=inbound, json={"kind": "hard"})
    assert neither.status_code == 422, neither.text
    assert [e["reason"] for e in neither.json()["errors"]] == [
        "give exactly one of message_id or email"]
    bad_kind = await http.post(url, headers=inbound,
                               json={"email": "a@b.example", "kind": "medium"})
    assert bad_kind.status_code == 422, bad_kind.text
    assert [e["field"] for e in bad_kind.json()["errors"]] == ["kind"]
    unknown = await http.post(f"{stack.url('nurture')}/v1/replies", headers=inbound,
                              json={"email": "nobody-we-mailed@nowhere.example"})
    assert unknown.status_code == 202 and unknown.json() == {"lead_ids": [], "stopped": False}


async def test_a_provider_spam_complaint_suppresses_the_address_on_every_channel(
        stack: Stack, admin_headers: dict[str, str], scoped_keys: dict[str, str],
        http: httpx.AsyncClient) -> None:
    """A provider's feedback-loop report (e.g. SendGrid `spamreport`, SES `Complaint`,
    Postmark `SpamComplaint`), relayed with the Message-ID it names, unsubscribes the lead:
    its SMS step never goes out, and lead.unsubscribed is announced."""
    nurture, tag = stack.url("nurture"), uuid.uuid4().hex[:8]
    r = await http.post(f"{nurture}/v1/templates", headers=admin_headers, json={
        "key": f"e2e-sms-{tag}", "channel": "sms", "text": "Hi {{ lead.first_name }}"})
    assert r.status_code == 201, r.text
    async with ChannelAdapter("complaint-test-secret-0123456789") as adapter:
        key, campaign = await create_sequence(http, stack, admin_headers, [
            {"kind": "send_email", "template": "welcome"},
            {"kind": "wait", "seconds": 8},
            {"kind": "send", "channel": "sms", "template": f"e2e-sms-{tag}"},
        ], webhooks={"sms": {"url": adapter.url, "secret": "complaint-test-secret-0123456789"}})
        body = cold_lead(campaign, phone="+1 415 555 0100")
        first = await new_lead(http, stack, admin_headers, body)

        async def welcomed() -> None:
            assert steps_of(mail_to(stack, body["email"], key)) == [0]
        await eventually(welcomed)
        [welcome] = mail_to(stack, body["email"], key)
        # As a relay forwards it: the Message-ID header of the email complained about.
        r = await http.post(f"{nurture}/v1/bounces",
                            headers={"X-API-Key": scoped_keys["nurture:inbound"]},
                            json={"message_id": str(welcome["Message-ID"]),
                                  "kind": "complaint"})
        assert r.status_code == 202, r.text
        assert r.json() == {"lead_ids": [first], "stopped": True}
        enrollment = await _enrollment(http, stack, admin_headers, first, key)
        assert (enrollment["status"], enrollment["exit_reason"]) == ("exited", "unsubscribed")

        # The SMS step after the wait never goes out, and scoring, capture and reports hear
        # of the unsubscribe.
        messages = await http.get(f"{nurture}/v1/leads/{first}/messages", headers=admin_headers)
        assert [m["channel"] for m in messages.json()["items"]
                if m["sequence_key"] == key] == ["email"]
        assert adapter.received == []
    async with TopicReader(stack.bootstrap_servers, "leadloop.nurture") as reader:
        await reader.wait_for(lambda evs: any(
            e.type == "leadloop.lead.unsubscribed.v1" and e.subject == first for e in evs))
