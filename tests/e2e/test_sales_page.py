"""The sales page in Chromium against the running stack: a rep signs in with their key, finds
the lead in their queue with the time left, reads its score, why and timeline, and accepts it;
a manager sees a lead waiting in the fallback queue and assigns it to a rep."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from playwright.async_api import Browser, Page

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead
from tests.e2e.handoff_fixtures import assignment_of, rep_key, sales_team
from tests.support import eventually
from tests.support.browser import PHONE, keep_screenshot, submit_api_key

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def _sign_in(browser: Browser, stack: Stack, key: str) -> Page:
    context = await browser.new_context(viewport=PHONE, is_mobile=True)
    page = await context.new_page()
    await page.goto(f"{stack.url('handoff')}/sales")
    assert page.url.endswith("/sales/login")  # no session: the sign-in form
    await submit_api_key(page, key)
    await page.wait_for_url(f"{stack.url('handoff')}/sales")
    return page


async def _patch(http: httpx.AsyncClient, stack: Stack, admin: dict[str, str], rep_id: str,
                 change: dict[str, Any]) -> None:
    patched = await http.patch(f"{stack.url('handoff')}/v1/reps/{rep_id}", headers=admin,
                               json=change)
    assert patched.status_code == 200, patched.text


async def test_a_rep_signs_in_reads_the_lead_and_accepts_it_on_a_phone(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        browser: Browser, tmp_path: Path) -> None:
    team, campaign, ada, ben, _mia = await sales_team(http, stack, admin_headers)
    await _patch(http, stack, admin_headers, ben, {"active": False})  # the lead goes to Ada
    ada_key = (await rep_key(http, stack, admin_headers, ada))["X-API-Key"]
    lead_id = await post_lead(http, stack, admin_headers,
                              {**qualified_lead("page"), "source": {"utm_campaign": campaign}})
    assignment = await assignment_of(http, stack, admin_headers, lead_id)
    assert assignment["rep"]["id"] == ada and assignment["status"] == "assigned"
    other_lead = await post_lead(http, stack, admin_headers, qualified_lead("other"))
    await assignment_of(http, stack, admin_headers, other_lead)  # another team's lead

    page = await _sign_in(browser, stack, ada_key)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "leadloop_sales")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert ada_key not in cookie["value"]
    row = page.locator(f'ul[data-queue=mine] li[data-lead="{lead_id}"]')
    assert await row.get_attribute("data-status") == "assigned"
    assert (await row.locator(".left").inner_text()).endswith("min left")  # 600 s SLA
    assert await page.locator("header .who").inner_text() == f"rep:ada.{team}@sales.example/laptop"
    await page.screenshot(path=tmp_path / "sales-queue.png", full_page=True)
    keep_screenshot(tmp_path / "sales-queue.png")

    # The lead page: profile, the score and why, the timeline from outcomes.
    await row.locator("a.lead").click()
    await page.wait_for_url(f"**/sales/leads/{lead_id}")

    async def timeline_shows_the_assignment() -> None:
        await page.reload()
        kinds = await page.locator("ol[data-timeline] li").evaluate_all(
            "items => items.map(i => i.dataset.kind)")
        assert "assigned" in kinds and "scored" in kinds, kinds
    await eventually(timeline_shows_the_assignment, timeout_s=30, interval_s=0.5)
    profile = await page.locator("section[data-lead] dl").inner_text()
    assert assignment["lead"]["email"] in profile and "VP Marketing" in profile
    why = await page.locator("table[data-why] tr").all_inner_texts()
    assert why and all(text.strip() for text in why)
    response = await page.request.get(page.url)
    policy = response.headers["content-security-policy"]
    assert "script-src" not in policy and "default-src 'none'" in policy
    await page.screenshot(path=tmp_path / "sales-lead.png", full_page=True)
    keep_screenshot(tmp_path / "sales-lead.png")

    # A form without the session's CSRF token is refused, and changes nothing.
    forged = await page.request.post(
        f"{stack.url('handoff')}/sales/assignments/{assignment['id']}/accept",
        form={"csrf": "forged"})
    assert forged.status == 403
    still = await assignment_of(http, stack, admin_headers, lead_id)
    assert still["status"] == "assigned"

    # Accept: the page says so, and so does the API, with who did it.
    await page.click("button[value=accept]")
    await page.wait_for_url(f"**/sales/leads/{lead_id}")
    assert await page.locator("span.status").first.inner_text() == "accepted"
    accepted = await assignment_of(http, stack, admin_headers, lead_id)
    assert accepted["status"] == "accepted"
    assert accepted["accepted_by"] == f"rep:ada.{team}@sales.example/laptop"
    assert await page.locator("[data-accepted-by]").inner_text() == accepted["accepted_by"]

    async def timeline_shows_the_accept() -> None:
        await page.reload()
        entry = page.locator("ol[data-timeline] li[data-kind=accepted]")
        assert await entry.count() == 1
        assert accepted["accepted_by"] in await entry.inner_text()
    await eventually(timeline_shows_the_accept, timeout_s=30, interval_s=0.5)
    await page.screenshot(path=tmp_path / "sales-lead-accepted.png", full_page=True)
    keep_screenshot(tmp_path / "sales-lead-accepted.png")

    # Another team's lead is not Ada's to see; a rep has no team view.
    await page.goto(f"{stack.url('handoff')}/sales/leads/{other_lead}")
    assert "No lead you may see" in await page.locator("main").inner_text()
    assert (await page.request.get(f"{stack.url('handoff')}/sales/team")).status == 403

    # Signing out ends the session for good.
    await page.goto(f"{stack.url('handoff')}/sales")
    await page.click("header form button")
    await page.wait_for_url("**/sales/login")
    await page.context.add_cookies([cast(Any, cookie)])  # a copied cookie opens nothing
    await page.goto(f"{stack.url('handoff')}/sales")
    assert page.url.endswith("/sales/login")
    await page.context.close()


async def test_a_manager_sees_a_fallback_lead_and_assigns_it_to_a_rep(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        browser: Browser, tmp_path: Path) -> None:
    team, campaign, ada, ben, mia = await sales_team(http, stack, admin_headers)
    now = datetime.now(UTC)
    await _patch(http, stack, admin_headers, ada, {
        "out_of_office_from": (now - timedelta(hours=1)).isoformat(),
        "out_of_office_to": (now + timedelta(days=1)).isoformat()})
    await _patch(http, stack, admin_headers, ben, {"active": False})
    mia_key = (await rep_key(http, stack, admin_headers, mia))["X-API-Key"]
    page = await _sign_in(browser, stack, mia_key)

    lead_id = await post_lead(http, stack, admin_headers,
                              {**qualified_lead("fallback"), "source": {"utm_campaign": campaign}})
    queued = await assignment_of(http, stack, admin_headers, lead_id)
    assert queued["status"] == "queued"

    row = page.locator(f'ul[data-queue=fallback] li[data-lead="{lead_id}"]')

    async def on_the_page() -> float:
        await page.goto(f"{stack.url('handoff')}/sales/team")
        assert await row.count() == 1
        return time.time()
    seen_at = await eventually(on_the_page, timeout_s=30, interval_s=0.2)
    queued_at = datetime.fromisoformat(queued["handed_off_at"]).timestamp()
    print(f"\nfallback queue -> on the manager's page after {seen_at - queued_at:.2f} s "
          "(page polled every 0.2 s)")
    assert "waiting" in await row.locator(".left").inner_text()
    await page.screenshot(path=tmp_path / "sales-team.png", full_page=True)
    keep_screenshot(tmp_path / "sales-team.png")

    # A reason is required (the browser refuses an empty one); then assign to Ada.
    await row.locator("select[name=rep_id]").select_option(ada)
    await row.locator("input[name=reason]").fill("Ada owns DACH, back tomorrow")
    await row.locator("button[type=submit]").click()
    await page.wait_for_url("**/sales/team")
    assert await row.count() == 0
    assert await page.locator(f'ul[data-queue=rep] li[data-lead="{lead_id}"]').count() == 1
    assigned = await assignment_of(http, stack, admin_headers, lead_id)
    assert assigned["rep"]["id"] == ada and assigned["routing_rule"] == "manual"
    assert assigned["assigned_by"] == f"rep:mia.{team}@sales.example/laptop"
    assert "Ada owns DACH" in assigned["routing_reason"]
    await page.screenshot(path=tmp_path / "sales-team-assigned.png", full_page=True)
    keep_screenshot(tmp_path / "sales-team-assigned.png")
    await page.context.close()
