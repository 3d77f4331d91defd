"""Nurture's sequence admin API end to end: a second version goes live while running
enrollments finish on the version they started with; pausing stops new enrollments; a sequence
naming a template that does not exist is refused with the step and the name."""

from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.nurture_fixtures import (
    NO_LIMITS,
    cold_lead,
    create_sequence,
    enrollments_of,
    mail_to,
    new_lead,
    steps_of,
)
from tests.support import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

PRICING_SUBJECT = "Our pricing, plainly"  # the seeded pricing-guide template


async def test_second_version_goes_live_running_enrollment_finishes_on_the_first_and_pause(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    nurture = stack.url("nurture")
    key, campaign = await create_sequence(http, stack, admin_headers, [
        {"kind": "send_email", "template": "welcome"},
        {"kind": "wait", "seconds": 10},
        {"kind": "send_email", "template": "case-study"},
    ])
    first_body = cold_lead(campaign)
    first = await new_lead(http, stack, admin_headers, first_body)

    async def first_email() -> None:
        assert steps_of(mail_to(stack, first_body["email"], key)) == [0]
    await eventually(first_email)

    # The same key again: version 2, one step only, becomes the live version.
    r = await http.post(f"{nurture}/v1/sequences", headers=admin_headers, json={
        "key": key, "entry_rule": "new_unqualified_lead", "guards": NO_LIMITS,
        "segment": {"utm_campaign": [campaign]},
        "steps": [{"kind": "send_email", "template": "pricing-guide"}]})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.json()["active"] is True
    listed = await http.get(f"{nurture}/v1/sequences", headers=admin_headers)
    assert [(s["version"], s["active"]) for s in listed.json()["sequences"]
            if s["key"] == key] == [(2, True), (1, False)]

    # A new lead runs version 2; the running one finishes version 1 (whose step 2 v2 lacks).
    second_body = cold_lead(campaign)
    second = await new_lead(http, stack, admin_headers, second_body)

    async def both_done() -> None:
        assert steps_of(mail_to(stack, first_body["email"], key)) == [0, 2]
        assert steps_of(mail_to(stack, second_body["email"], key)) == [0]
    await eventually(both_done)
    mine = (await enrollments_of(http, stack, admin_headers, first))[key]
    assert (mine["sequence_version"], mine["status"]) == (1, "completed")
    theirs = (await enrollments_of(http, stack, admin_headers, second))[key]
    assert (theirs["sequence_version"], theirs["status"]) == (2, "completed")
    assert mail_to(stack, first_body["email"], key)[0]["Subject"] == "Welcome, Sam"
    assert mail_to(stack, second_body["email"], key)[0]["Subject"] == PRICING_SUBJECT

    # Paused: a new lead of the campaign enters the default welcome sequence, not this one.
    r = await http.post(f"{nurture}/v1/sequences/{key}/pause", headers=admin_headers)
    assert r.status_code == 204, r.text
    third = await new_lead(http, stack, admin_headers, cold_lead(campaign))

    async def entered_welcome() -> dict[str, dict[str, Any]]:
        enrollments = await enrollments_of(http, stack, admin_headers, third)
        assert "welcome" in enrollments, enrollments
        return enrollments
    assert key not in await eventually(entered_welcome)

    missing = await http.post(f"{nurture}/v1/sequences/no-such-{key}/pause",
                              headers=admin_headers)
    assert missing.status_code == 404, missing.text


async def test_sequence_naming_an_unknown_template_is_refused_with_the_step(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    r = await http.post(f"{stack.url('nurture')}/v1/sequences", headers=admin_headers, json={
        "key": "never-stored", "entry_rule": "new_unqualified_lead",
        "steps": [{"kind": "send_email", "template": "welcome"},
                  {"kind": "send_email", "template": "no-such-template"}]})
    assert r.status_code == 422, r.text
    assert [(e["field"], e["reason"]) for e in r.json()["errors"]] == [
        ("steps.1.template", "no template 'no-such-template'")]
    listed = await http.get(f"{stack.url('nurture')}/v1/sequences", headers=admin_headers)
    assert "never-stored" not in {s["key"] for s in listed.json()["sequences"]}
