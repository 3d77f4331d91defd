"""Nurture's other entry rules end to end, through the other services' HTTP APIs: a lead sales
rejects enters a recycle sequence and gets its email; a won deal starts onboarding; a lost deal
starts re-engagement after its entry delay. The seeded defaults exist out of the box."""

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import qualified_lead
from tests.e2e.nurture_fixtures import (
    NO_LIMITS,
    cold_lead,
    enrollments_of,
    mail_to,
    new_lead,
    steps_of,
)
from tests.support import eventually, every_item

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

ONE_EMAIL = [{"kind": "send_email", "template": "welcome"}]


async def _sequence(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str], key: str,
                    rule: str, campaign: str, **settings: Any) -> None:
    r = await http.post(f"{stack.url('nurture')}/v1/sequences", headers=headers, json={
        "key": key, "entry_rule": rule, "steps": ONE_EMAIL,
        "segment": {"utm_campaign": [campaign]}, "guards": NO_LIMITS, **settings})
    assert r.status_code == 201, r.text


async def _close_deal(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                      lead_id: str, status: str) -> None:
    async def posted() -> None:  # outcomes learns of the lead from its events first
        r = await http.post(f"{stack.url('outcomes')}/v1/deals", headers=headers, json={
            "external_id": f"crm-{lead_id}", "lead_id": lead_id, "status": status,
            "amount_minor": 500_000, "currency": "EUR",
            **({"lost_reason": "went with a competitor"} if status == "lost" else {})})
        assert r.status_code == 201, r.text
    await eventually(posted)


async def test_rejected_lead_recycles_won_deal_onboards_lost_deal_re_engages_later(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        reps: list[dict[str, Any]]) -> None:
    tag = datetime.now().strftime("%H%M%S%f")
    campaign = f"entry-{tag}"
    recycle, onboarding, re_engage = f"recycle-{tag}", f"onboarding-{tag}", f"re-engage-{tag}"
    await _sequence(http, stack, admin_headers, recycle, "lead_rejected", campaign)
    await _sequence(http, stack, admin_headers, onboarding, "deal_won", campaign)
    await _sequence(http, stack, admin_headers, re_engage, "deal_lost", campaign,
                    entry_delay_days=30)

    # Out of the box, each rule has a default sequence too.
    listed = await every_item(http, f"{stack.url('nurture')}/v1/sequences", admin_headers)
    live = {s["key"]: s for s in listed if s["active"]}
    assert {k: live[k]["entry_rule"] for k in ("recycle", "onboarding", "re-engage")} == {
        "recycle": "lead_rejected", "onboarding": "deal_won", "re-engage": "deal_lost"}

    # A qualified lead is handed off; the rep rejects it through handoff's API.
    rejected_body = {**qualified_lead(), "source": {"channel": "form", "utm_campaign": campaign}}
    rejected = await new_lead(http, stack, admin_headers, rejected_body)
    handoff = stack.url("handoff")

    async def assigned() -> str:
        r = await http.get(f"{handoff}/v1/leads/{rejected}/assignment", headers=admin_headers)
        assert r.status_code == 200, r.text
        return str(r.json()["id"])
    assignment = await eventually(assigned)
    r = await http.post(f"{handoff}/v1/assignments/{assignment}/reject", headers=admin_headers,
                        json={"reason_code": "bad_timing"})
    assert r.status_code == 200, r.text

    async def recycled() -> None:
        assert steps_of(mail_to(stack, rejected_body["email"], recycle)) == [0]
    await eventually(recycled)
    enrollments = await enrollments_of(http, stack, admin_headers, rejected)
    assert enrollments[recycle]["status"] == "completed"
    assert enrollments["recycle"]["status"] == "active"  # the default, after its 3-day delay

    # Two more leads of the campaign: one deal won, one lost (outcomes' POST /v1/deals).
    won_body, lost_body = cold_lead(campaign), cold_lead(campaign)
    won = await new_lead(http, stack, admin_headers, won_body)
    lost = await new_lead(http, stack, admin_headers, lost_body)
    await _close_deal(http, stack, admin_headers, won, "won")
    await _close_deal(http, stack, admin_headers, lost, "lost")

    async def onboarded() -> None:
        assert steps_of(mail_to(stack, won_body["email"], onboarding)) == [0]
    await eventually(onboarded)

    # A new score or page view of the lead wakes its enrollments; the scheduler then puts this
    # one back to sleep until its entry delay ends: poll until it has.
    async def re_engaging_later() -> None:
        enrollment = (await enrollments_of(http, stack, admin_headers, lost)).get(re_engage)
        assert enrollment is not None
        assert enrollment["status"] == "active" and enrollment["current_step"] == 0
        due = datetime.fromisoformat(enrollment["next_step_due_at"])
        assert due - datetime.fromisoformat(enrollment["enrolled_at"]) == timedelta(days=30)
    await eventually(re_engaging_later)
    assert mail_to(stack, lost_body["email"], re_engage) == []
    assert onboarding not in await enrollments_of(http, stack, admin_headers, lost)
    assert re_engage not in await enrollments_of(http, stack, admin_headers, won)
