"""Nurture end to end: real SMTP into the local sink, opens and clicks that feed scoring,
nurture.message_sent for every message, qualification
that stops a sequence, unsubscribe, and a restart mid-sequence that neither repeats nor skips."""

import re
from datetime import UTC, datetime

import httpx
import pytest

from leadloop.events import CloudEvent
from leadloop_devstack.stack import Stack
from tests.e2e.nurture_fixtures import (
    click_links,
    cold_lead,
    create_sequence,
    html_of,
    mail_to,
    new_lead,
    steps_of,
)
from tests.support import TopicReader, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def _enrollment(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                      lead_id: str, key: str) -> dict[str, object]:
    r = await http.get(f"{stack.url('nurture')}/v1/leads/{lead_id}/enrollments", headers=headers)
    assert r.status_code == 200, r.text
    found = [e for e in r.json()["items"] if e["sequence_key"] == key]
    assert len(found) == 1, r.text
    return dict(found[0])


async def test_first_email_click_raises_score_and_qualification_stops_the_sequence(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    key, campaign = await create_sequence(http, stack, admin_headers, [
        {"kind": "send_email", "template": "welcome"},
        {"kind": "wait", "seconds": 20},
        {"kind": "send_email", "template": "case-study"},
    ])
    hot_body, control_body = cold_lead(campaign), cold_lead(campaign)
    hot = await new_lead(http, stack, admin_headers, hot_body)
    control = await new_lead(http, stack, admin_headers, control_body)

    # The first email arrives in the SMTP sink, personalized, with one-click unsubscribe.
    async def first_email() -> None:
        assert len(mail_to(stack, hot_body["email"], key)) == 1
    await eventually(first_email)
    welcome = mail_to(stack, hot_body["email"], key)[0]
    assert welcome["Subject"] == "Welcome, Sam"
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(welcome["List-Unsubscribe"]).strip().startswith(f"<{stack.url('nurture')}/u/")
    assert "Call us directly" in html_of(welcome)
    assert hot_body["company"] in html_of(welcome)

    # The lead clicks the guide link: redirected to it, and scoring counts the click.
    links = click_links(welcome)
    assert links, html_of(welcome)
    click = await http.get(links[0], follow_redirects=False)
    assert click.status_code == 302
    assert click.headers["location"] == "https://leadloop.example/guides/getting-started"

    # The mail reader loads the open pixel: a GIF, and scoring counts the open too.
    pixels = re.findall(r'src="([^"]+/o/[^"]+\.gif)"', html_of(welcome))
    assert len(pixels) == 1, html_of(welcome)
    pixel = await http.get(pixels[0])
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    assert pixel.content.startswith(b"GIF8")

    async def click_and_open_scored() -> None:
        r = await http.get(f"{stack.url('scoring')}/v1/leads/{hot}/score", headers=admin_headers)
        assert r.status_code == 200, r.text
        rules = {c["rule_id"] for c in r.json()["contributions"]}
        assert {"engagement.email_clicked", "engagement.email_opened"} <= rules, rules
    await eventually(click_and_open_scored)

    # The lead tells us it is a VP at a 200-person company: scoring qualifies it, and the
    # sequence stops before its second email.
    await new_lead(http, stack, admin_headers,
                   {**hot_body, "job_title": "VP Marketing", "company_size": 200})

    async def stopped() -> None:
        enrollment = await _enrollment(http, stack, admin_headers, hot, key)
        assert enrollment["status"] == "exited" and enrollment["exit_reason"] == "qualified"
    await eventually(stopped)

    # The control lead of the same sequence gets its second email; the qualified one does not.
    async def control_second_email() -> None:
        assert steps_of(mail_to(stack, control_body["email"], key)) == [0, 2]
    await eventually(control_second_email)
    assert steps_of(mail_to(stack, hot_body["email"], key)) == [0]

    # One click on the control lead's unsubscribe (RFC 8058 POST) ends its mail for good.
    control_mail = mail_to(stack, control_body["email"], key)[-1]
    unsubscribe_url = str(control_mail["List-Unsubscribe"]).strip().strip("<>")
    r = await http.post(unsubscribe_url, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and "unsubscribed" in r.text
    # Every message in the sink was announced once as nurture.message_sent, with its id and step.
    in_sink = sorted((str(m["X-LeadLoop-Message-Id"]), step) for body in (hot_body, control_body)
                     for m, step in zip(mail_to(stack, body["email"], key),
                                        steps_of(mail_to(stack, body["email"], key)),
                                        strict=True))
    assert len(in_sink) == 3

    def announced(events: list[CloudEvent]) -> list[tuple[str, int]]:
        return sorted((str(e.data["message_id"]), int(e.data["step"])) for e in events
                      if e.type == "leadloop.nurture.message_sent.v1"
                      and e.subject in (hot, control)
                      and str(e.data["sequence_id"]).startswith(f"{key}:"))

    async with TopicReader(stack.bootstrap_servers, "leadloop.nurture") as reader:
        events = await reader.wait_for(lambda evs: any(
            e.type == "leadloop.lead.unsubscribed.v1" and e.subject == control for e in evs)
            and len(announced(evs)) >= len(in_sink))
    assert announced(events) == in_sink
    # The open became a lead.activity naming the welcome message.
    assert [e.data["properties"] for e in events if e.type == "leadloop.lead.activity.v1"
            and e.subject == hot and e.data["kind"] == "email_opened"] == \
        [{"message_id": str(welcome["X-LeadLoop-Message-Id"])}]


async def test_nurture_restarted_mid_sequence_neither_repeats_nor_skips_a_step(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    key, campaign = await create_sequence(http, stack, admin_headers, [
        {"kind": "send_email", "template": "welcome"},
        # Long enough that every lead has its first email before any has its second.
        {"kind": "wait", "seconds": 12},
        {"kind": "send_email", "template": "case-study"},
        {"kind": "wait", "seconds": 3},
        {"kind": "send_email", "template": "pricing-guide"},
    ])
    bodies = [cold_lead(campaign) for _ in range(3)]
    leads = [await new_lead(http, stack, admin_headers, b) for b in bodies]

    async def first_emails() -> None:
        assert all(steps_of(mail_to(stack, b["email"], key)) == [0] for b in bodies)
    await eventually(first_emails)

    # Nurture dies while every lead waits; the next step falls due while it is down.
    due = [datetime.fromisoformat(str(
        (await _enrollment(http, stack, admin_headers, lead, key))["next_step_due_at"]))
        for lead in leads]
    stack.kill_service("nurture")

    async def step_due_while_down() -> None:
        assert datetime.now(UTC) > max(due)
    await eventually(step_due_while_down)
    await stack.start_service("nurture")

    async def finished() -> None:
        for lead in leads:
            enrollment = await _enrollment(http, stack, admin_headers, lead, key)
            assert enrollment["status"] == "completed", enrollment
    await eventually(finished)
    for body in bodies:
        assert steps_of(mail_to(stack, body["email"], key)) == [0, 2, 4]
