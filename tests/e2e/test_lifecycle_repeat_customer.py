"""From buyer to repeat customer, end to end through the services' HTTP APIs: a lead is won and
becomes a customer (lifecycle stage, account owner, onboarding); the same person's new form
submission goes to the rep who won it with reason existing_customer (not round-robin), and so
does a colleague at the same company; a second won deal makes a repeat customer, counted as a
repeat purchase in the report, in the account rollup, on the dashboard (Chromium) and in the
digest. An admin reset moves the stage back and is an event too."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from leadloop_devstack.stack import Stack
from tests.e2e.capture_fixtures import contact_form, create_form
from tests.e2e.conftest import post_lead, qualified_lead
from tests.e2e.handoff_fixtures import assignment_of, team_with_rule
from tests.e2e.nurture_fixtures import enrollments_of
from tests.support import TopicReader, eventually
from tests.support.browser import desktop_page, submit_api_key

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def _get(http: httpx.AsyncClient, url: str, headers: dict[str, str],
               **params: Any) -> Any:
    r = await http.get(url, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def _won_deal(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                    lead_id: str, external_id: str, amount_minor: int) -> None:
    r = await http.post(f"{stack.url('outcomes')}/v1/deals", headers=headers, json={
        "external_id": external_id, "lead_id": lead_id, "status": "won",
        "amount_minor": amount_minor, "currency": "EUR"})
    assert r.status_code == 201, r.text


async def _stage(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                 lead_id: str, expected: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any]:
        body = await _get(http, f"{stack.url('outcomes')}/v1/leads/{lead_id}/lifecycle-stage",
                          headers)
        assert body["stage"] == expected, body
        return dict(body)
    return await eventually(reached)


async def test_won_lead_comes_back_to_its_owner_onboards_and_counts_as_repeat_purchase(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        browser: Browser) -> None:
    campaign = f"repeat-{uuid.uuid4().hex[:8]}"
    _team, (ada, ben), _rule = await team_with_rule(http, stack, admin_headers, campaign, 600)
    outcomes, handoff = stack.url("outcomes"), stack.url("handoff")

    # Jane qualifies, is handed to a rep of the campaign's team, accepted, and won.
    source = {"channel": "form", "campaign": campaign, "utm_campaign": campaign,
              "utm_source": "linkedin"}
    jane_body = {**qualified_lead(), "source": source}
    jane = await post_lead(http, stack, admin_headers, jane_body)
    first = await assignment_of(http, stack, admin_headers, jane)
    owner = first["rep"]["id"]
    assert owner in (ada, ben)
    r = await http.post(f"{handoff}/v1/assignments/{first['id']}/accept",
                        headers=admin_headers)
    assert r.status_code == 200, r.text
    await _stage(http, stack, admin_headers, jane, "sql")
    await _won_deal(http, stack, admin_headers, jane, f"crm-{jane}-1", 400_000)
    customer = await _stage(http, stack, admin_headers, jane, "customer")

    # Handoff learned who owns the customer and its company; the old assignment is closed.
    domain = jane_body["email"].lower().rsplit("@", 1)[1]

    async def owned() -> dict[str, Any]:
        account = await _get(http, f"{handoff}/v1/accounts/{domain}", admin_headers)
        assert account["owner_rep_id"] == owner, account
        return dict(account)
    account = await eventually(owned)
    assert account["customers"] == 1 and account["owner_set_by"] is None
    closed = await _get(http, f"{handoff}/v1/assignments/{first['id']}", admin_headers)
    assert closed["status"] == "converted"

    # Nurture enrolled the new customer in the default onboarding sequence.
    async def onboarding() -> None:
        enrolled = await enrollments_of(http, stack, admin_headers, jane)
        assert enrolled.get("onboarding", {}).get("status") == "active", enrolled
    await eventually(onboarding)

    # Jane's new form submission (new interest) goes to her owner as an existing customer.
    form = await create_form(http, stack, admin_headers, contact_form())
    async with TopicReader(stack.bootstrap_servers, "leadloop.handoff") as reader:
        r = await http.post(f"{stack.url('capture')}/v1/forms/{form['id']}/submissions",
                            headers={"X-Form-Key": form["public_key"]},
                            json={"email": jane_body["email"], "budget": ">50k"})
        assert r.status_code in (200, 201), r.text

        async def handed_to_owner() -> dict[str, Any]:
            current = await _get(http, f"{handoff}/v1/leads/{jane}/assignment", admin_headers)
            assert current["id"] != first["id"], current
            return dict(current)
        again = await eventually(handed_to_owner)
        assert again["rep"]["id"] == owner and again["routing_rule"] == "existing_customer"
        assert again["status"] == "assigned" and "existing customer" in again["routing_reason"]
        # Under the customer SLA (4 hours by default), not the new-lead one.
        deadline = datetime.fromisoformat(again["sla_deadline"])
        handed = datetime.fromisoformat(again["handed_off_at"])
        assert deadline - handed > timedelta(minutes=30)
        events = await reader.wait_for(lambda evs: any(
            e.subject == jane and e.type == "leadloop.lead.handed_off.v1"
            and e.data["assignment_id"] == again["id"] for e in evs))
    handed_off = next(e.data for e in events if e.subject == jane
                      and e.data.get("assignment_id") == again["id"])
    assert handed_off["lifecycle_stage"] == "customer" and handed_off["account"] == domain

    # A colleague at the same company qualifies: the account owner gets him, not the rotation.
    tom_body = {**qualified_lead(), "email": f"tom.{uuid.uuid4().hex[:6]}@{domain}",
                "source": source}
    tom = await post_lead(http, stack, admin_headers, tom_body)
    toms = await assignment_of(http, stack, admin_headers, tom)
    assert (toms["rep"]["id"], toms["routing_rule"]) == (owner, "existing_customer")

    # The hand-off did not stop onboarding: a customer's sequence is not prospect marketing.
    assert (await enrollments_of(http, stack, admin_headers, jane))["onboarding"]["status"] \
        == "active"

    # A second won deal (a new deal, not an update of the first) makes a repeat customer.
    await _won_deal(http, stack, admin_headers, jane, f"crm-{jane}-2", 150_000)
    await _stage(http, stack, admin_headers, jane, "repeat_customer")

    today = datetime.now(UTC).date()
    window = {"from": datetime.combine(today, datetime.min.time(), UTC).isoformat(),
              "to": datetime.combine(today + timedelta(days=1), datetime.min.time(),
                                     UTC).isoformat()}

    async def counted() -> dict[str, Any]:
        report = await _get(http, f"{outcomes}/v1/reports/repeat-customers", admin_headers,
                            by="campaign", currency="EUR", **window)
        row = next(r for r in report["rows"] if r["key"] == campaign)
        assert (row["customers"], row["repeat_customers"], row["purchases"],
                row["repeat_purchases"]) == (1, 1, 2, 1), row
        return dict(row)
    row = await eventually(counted)
    assert row["repeat_purchase_rate"] == 1.0 and row["small_sample"] is True
    assert row["first_revenue_per_customer_minor"] == 400_000
    assert row["repeat_revenue_per_customer_minor"] == 150_000
    assert row["days_to_second_median"] is not None and row["days_to_second_median"] < 1
    # The account rollup lists Jane's company with both deals (the first and the repeat) and
    # Tom as its second contact; the rep who won owns it.
    async def rolled_up() -> dict[str, Any]:
        account = await _get(http, f"{outcomes}/v1/reports/accounts/{domain}", admin_headers,
                             currency="EUR", **window)
        assert (account["deals_won"], account["purchases"], account["repeat_purchases"]) \
            == (2, 2, 1), account
        return dict(account)
    rollup = await eventually(rolled_up)
    assert (rollup["contacts"], rollup["customers"], rollup["repeat_customers"]) == (2, 1, 1)
    assert (rollup["first_revenue_minor"], rollup["repeat_revenue_minor"]) == (400_000, 150_000)
    assert rollup["deals_opened"] == 2 and rollup["leads_by_stage"]["repeat_customer"] == 1
    assert (rollup["owner_rep_id"], rollup["owner_basis"]) == (owner, "won_latest_deal")
    listed = await _get(http, f"{outcomes}/v1/reports/accounts", admin_headers,
                        campaign=campaign, currency="EUR", **window)
    assert [a["domain"] for a in listed["items"]] == [domain]
    assert listed["next_cursor"] is None

    # The stage filter: only repeat customers, Jane among them; Tom is no customer.
    funnel = await _get(http, f"{outcomes}/v1/reports/funnel", admin_headers,
                        by="campaign", lifecycle_stage="repeat_customer", **window)
    ours = next(g for g in funnel["groups"] if g["key"] == campaign)
    assert ours["counts"]["won"] == 1 and ours["counts"]["lead"] == 1

    # The dashboard shows the same row.
    page = await desktop_page(browser)
    await page.goto(f"{outcomes}/dashboard/login")
    await submit_api_key(page, stack.admin_key)
    await page.wait_for_selector("table.repeat")
    await page.goto(f"{outcomes}/dashboard?from={today}&to={today}&repeat_by=campaign")
    cells = await page.eval_on_selector(
        f'table.repeat tr[data-key="{campaign}"]',
        "e => [Number(e.dataset.customers), Number(e.dataset.repeatCustomers), "
        "Number(e.dataset.repeatPurchases), e.dataset.rate, e.dataset.small]")
    assert cells == [1, 1, 1, "1", "true"]
    # The top-accounts card shows the account report's first ten (by revenue), the same
    # figures; Jane's company with both deals among them unless ten others earned more.
    async def top_accounts() -> list[list[Any]]:
        await page.goto(f"{outcomes}/dashboard?from={today}&to={today}")
        shown = await page.eval_on_selector_all(
            "table.accounts tr[data-domain]",
            "rows => rows.map(e => [e.dataset.domain, Number(e.dataset.contacts), "
            "Number(e.dataset.customers), Number(e.dataset.dealsWon), "
            "Number(e.dataset.repeatPurchases), Number(e.dataset.revenue)])")
        api = await _get(http, f"{outcomes}/v1/reports/accounts", admin_headers, limit=10,
                         **window)
        assert shown == [[a["domain"], a["contacts"], a["customers"], a["deals_won"],
                          a["repeat_purchases"], a["revenue_minor"]] for a in api["items"]]
        return shown
    shown = await eventually(top_accounts)
    ours = [row[:5] for row in shown if row[0] == domain]
    assert ours == [[domain, 2, 1, 2, 1]] or len(shown) == 10, shown
    await page.close()

    # The digest sent now carries it too.
    r = await http.post(f"{outcomes}/v1/digests/send-now", headers=admin_headers)
    assert r.status_code == 201, r.text
    repeat = r.json()["digest"]["repeat_customers"]
    mine = next(s for s in repeat["by_campaign"] if s["key"] == campaign)
    assert (mine["customers"], mine["repeat_customers"], mine["small_sample"]) == (1, 1, True)
    assert repeat["overall"]["repeat_customers"] >= 1
    # Its top accounts (five, by won revenue) are the account report's, Jane's company among
    # them unless five others won more.
    top = r.json()["digest"]["top_accounts"]["accounts"]
    assert 1 <= len(top) <= 5
    assert [a["revenue_minor"] for a in top] == sorted((a["revenue_minor"] for a in top),
                                                       reverse=True)
    ours = [(a["deals_won"], a["repeat_purchases"]) for a in top if a["domain"] == domain]
    assert ours == [(2, 1)] or len(top) == 5, top

    # An admin resets Jane to lead (a refund): an event on her timeline, and old wins no longer
    # count; the timeline shows her stage.
    r = await http.post(f"{outcomes}/v1/leads/{jane}/lifecycle-stage:reset",
                        headers=admin_headers, json={"stage": "lead", "reason": "refunded"})
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "lead" and r.json()["reset_at"] is not None

    async def on_timeline() -> None:
        timeline = await _get(http, f"{outcomes}/v1/leads/{jane}/timeline", admin_headers,
                              limit=200)
        assert timeline["lifecycle"]["stage"] == "lead"
        # (an entry's detail leaves out what the event left empty: the first stage's previous)
        changes = [(e["detail"].get("previous_stage"), e["detail"]["stage"],
                    e["detail"]["reset"]) for e in timeline["items"]
                   if e["kind"] == "stage_changed"]
        assert changes[-1] == ("repeat_customer", "lead", True), changes
        assert ("opportunity", "customer", False) in changes \
            or ("sql", "customer", False) in changes
    await eventually(on_timeline)
    assert customer["since"] is not None
    r = await http.post(f"{outcomes}/v1/leads/{jane}/lifecycle-stage:reset",
                        headers=admin_headers, json={"stage": "nope", "reason": ""})
    assert r.status_code == 422
    fields = {(e["location"], e["field"]) for e in r.json()["errors"]}
    assert {("body", "stage"), ("body", "reason")} <= fields, r.json()
