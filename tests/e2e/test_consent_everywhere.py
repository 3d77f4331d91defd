"""One consent state: a one-click unsubscribe in a nurture mail withdraws email consent in
capture, scoring and the handoff sales gets; and the GDPR export holds every service's data
about the person (scores and why, messages, opens and clicks, assignments, deals)."""

import uuid
from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.nurture_fixtures import click_links, cold_lead, create_sequence, mail_to, new_lead
from tests.support import TopicReader, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def _json(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Any:
    r = await http.get(url, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_unsubscribe_withdraws_consent_everywhere_and_export_gathers_every_service(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        reps: list[dict[str, Any]]) -> None:
    key, campaign = await create_sequence(http, stack, admin_headers, [
        {"kind": "send_email", "template": "welcome"}])
    body = cold_lead(campaign)
    lead_id = await new_lead(http, stack, admin_headers, body)

    async def welcomed() -> Any:
        mails = mail_to(stack, body["email"], key)
        assert len(mails) == 1
        return mails[0]
    welcome = await eventually(welcomed)
    click = await http.get(click_links(welcome)[0], follow_redirects=False)
    assert click.status_code == 302, click.text
    unsubscribe = str(welcome["List-Unsubscribe"]).strip().strip("<>")

    async with TopicReader(stack.bootstrap_servers, "leadloop.capture",
                           "leadloop.handoff") as reader:
        r = await http.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 200, r.text

        # Capture, which owns consent, withdrew it and said so.
        withdrawn = await reader.wait_for(lambda evs: any(
            e.subject == lead_id and e.type == "leadloop.lead.consent_changed.v1"
            and e.data["purpose"] == "email_marketing" and not e.data["granted"] for e in evs))
        change = next(e.data for e in withdrawn if e.subject == lead_id
                      and e.type == "leadloop.lead.consent_changed.v1"
                      and not e.data["granted"])
        assert change["source"] == "unsubscribe:email"
        lead = await _json(http, f"{stack.url('capture')}/v1/leads/{lead_id}", admin_headers)
        assert lead["consent"]["email_marketing"] is False

        # Scoring's view.
        async def scoring_knows() -> None:
            score = await _json(http, f"{stack.url('scoring')}/v1/leads/{lead_id}/score",
                                admin_headers)
            assert score["consent"]["email_marketing"] is False, score["consent"]
            assert "email_marketing" in score["consent_withdrawn"]
        await eventually(scoring_knows)

        # The lead becomes sales-ready later: what sales gets says consent was withdrawn.
        r = await http.post(f"{stack.url('capture')}/v1/leads", headers=admin_headers, json={
            "email": body["email"], "last_name": "Doe", "job_title": "VP Marketing",
            "company_size": 200, "country": "DE", "phone": "+49 30 1234567"})
        assert r.status_code == 200, r.text
        events = await reader.wait_for(lambda evs: any(
            e.subject == lead_id and e.type == "leadloop.lead.handed_off.v1" for e in evs),
            timeout_s=60)
    handed_off = next(e.data for e in events if e.subject == lead_id
                      and e.type == "leadloop.lead.handed_off.v1")
    assert handed_off["consent"]["email_marketing"] is False

    deal = await http.post(f"{stack.url('outcomes')}/v1/deals", headers=admin_headers, json={
        "external_id": f"crm-{uuid.uuid4()}", "lead_id": lead_id, "status": "won",
        "amount_minor": 990_000, "currency": "EUR"})
    assert deal.status_code == 201, deal.text

    async def exported() -> dict[str, Any]:
        found = await _json(http, f"{stack.url('capture')}/v1/leads/{lead_id}/export",
                            admin_headers)
        services = found["services"]
        assert services["outcomes"]["deals"], services["outcomes"]
        assert services["handoff"]["assignments"], services["handoff"]
        return dict(found)
    export = await eventually(exported, timeout_s=60)
    services = export["services"]
    score = services["scoring"]["score"][0]
    assert score["contributions"] and all(c["reason"] for c in score["contributions"]), score
    assert services["scoring"]["score_history"]
    messages = services["nurture"]["messages"]
    assert [(m["template"], m["status"]) for m in messages
            if m["sequence_key"] == key] == [("welcome", "sent")]
    kinds = {e["kind"] for e in services["nurture"]["engagements"]}
    assert "email_clicked" in kinds, kinds
    assert services["nurture"]["lead"][0]["unsubscribed_at"] is not None
    assert services["handoff"]["lead"][0]["context"]["consent"]["email_marketing"] is False
    assert services["outcomes"]["deals"][0]["amount_minor"] == 990_000
    assert export["leads"][0]["consent"]["email_marketing"] is False

    # An export is complete or refused: a key that is not an admin key everywhere gets nothing.
    scoped = await http.get(f"{stack.url('capture')}/v1/leads/{lead_id}/export",
                            headers={"X-API-Key": "llk_not-a-key"})
    assert scoped.status_code == 401
