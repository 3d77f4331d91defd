"""Outcomes end to end: a small month of sales work through the public APIs, the reports a
marketer reads, the dashboard in headless Chromium, and a rebuild from Kafka."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy import text

from leadloop.db import create_engine
from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead, unqualified_lead
from tests.support import eventually

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.e2e]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
LINKEDIN = {"channel": "form", "utm_source": "linkedin", "utm_campaign": "q4-launch"}
GOOGLE = {"channel": "form", "utm_source": "google", "utm_campaign": "brand"}
NEWSLETTER = {"channel": "form", "utm_source": "newsletter", "utm_campaign": "webinar"}


@dataclass
class Scenario:
    """What the sales team did, and since when."""

    started: datetime
    hot: list[str]
    cold: list[str]


async def _assignment(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                      lead_id: str) -> str:
    async def assigned() -> str:
        r = await http.get(f"{stack.url('handoff')}/v1/leads/{lead_id}/assignment",
                           headers=headers)
        assert r.status_code == 200, r.text
        return str(r.json()["id"])
    return await eventually(assigned)


async def _report(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str], name: str,
                  **params: Any) -> Any:
    r = await http.get(f"{stack.url('outcomes')}/v1/reports/{name}", headers=headers,
                       params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def scenario(stack: Stack, admin_headers: dict[str, str],
                   reps: list[dict[str, Any]]) -> Scenario:
    """Six qualified leads from three campaigns and two cold ones; sales contacts, accepts,
    rejects, wins and loses some of them."""
    # No margin before now: the window must not reach back into an earlier test's work.
    started = datetime.now(UTC)
    handoff, outcomes = stack.url("handoff"), stack.url("outcomes")
    headers = admin_headers
    async with httpx.AsyncClient(timeout=10) as http:
        hot = [await post_lead(http, stack, headers, {**qualified_lead(), "source": source})
               for source in (LINKEDIN, LINKEDIN, GOOGLE, GOOGLE, LINKEDIN, NEWSLETTER)]
        cold = [await post_lead(http, stack, headers, unqualified_lead()) for _ in range(2)]
        # The first lead later registers for the newsletter's webinar: a second touch.
        r = await http.post(f"{stack.url('capture')}/v1/activities", headers=headers, json={
            "kind": "form_submitted", "lead_id": hot[0], "source": NEWSLETTER})
        assert r.status_code == 202, r.text
        assignments = [await _assignment(http, stack, headers, lead) for lead in hot]

        async def act(index: int, action: str, body: dict[str, Any] | None = None) -> None:
            r = await http.post(f"{handoff}/v1/assignments/{assignments[index]}/{action}",
                                headers=headers, json=body)
            assert r.status_code == 200, r.text

        async def deal(index: int, status: str, amount: int, **extra: Any) -> None:
            r = await http.post(f"{outcomes}/v1/deals", headers=headers, json={
                "external_id": f"crm-{hot[index]}", "lead_id": hot[index], "status": status,
                "amount_minor": amount, "currency": "EUR", **extra})
            assert r.status_code in (200, 201), r.text

        await act(0, "contacted", {"channel": "phone"})
        await act(0, "accept")
        await deal(0, "open", 1_000_000)
        await deal(0, "won", 1_000_000)
        await act(1, "contacted")
        await act(1, "accept")
        await deal(1, "lost", 300_000, lost_reason="price")
        await act(2, "reject", {"reason_code": "not_a_fit"})
        await act(3, "accept")
        await deal(3, "won", 500_000)
        await act(4, "contacted")

        async def all_seen() -> None:
            funnel = await _report(http, stack, headers, "funnel", **{"from": started.isoformat()})
            assert funnel[0]["counts"] == {"lead": 8, "mql": 6, "handed_off": 6, "accepted": 3,
                                           "opportunity": 3, "won": 2, "lost": 1}, funnel
            speed = await _report(http, stack, headers, "speed-to-lead",
                                  **{"from": started.isoformat()})
            assert sum(b["leads"] for b in speed["to_first_contact_histogram"]) == 3
            rejections = await _report(http, stack, headers, "rejections",
                                       **{"from": started.isoformat()})
            assert rejections["total"] == 1, rejections
            attribution = await _report(http, stack, headers, "attribution", model="linear",
                                        **{"from": started.isoformat()})
            assert attribution["total_revenue_minor"] == 1_500_000
            # The webinar touch travels on capture's topic, the deals on outcomes': wait for both.
            assert {r["key"] for r in attribution["rows"]} == {"q4-launch", "webinar", "brand"}
        await eventually(all_seen, timeout_s=60)
    return Scenario(started, hot, cold)


async def test_reports_show_what_sales_did(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        scenario: Scenario) -> None:
    since = {"from": scenario.started.isoformat()}
    [funnel] = await _report(http, stack, admin_headers, "funnel", **since)
    steps = {(s["from_stage"], s["to_stage"]): s for s in funnel["steps"]}
    assert steps[("lead", "mql")]["rate"] == 0.75
    assert steps[("opportunity", "won")]["rate"] == 0.6667
    assert steps[("lead", "mql")]["time"]["count"] == 6
    by_source = await _report(http, stack, admin_headers, "funnel", by="source", **since)
    assert {g["key"]: (g["counts"]["lead"], g["counts"]["won"]) for g in by_source} == {
        "google": (4, 1), "linkedin": (3, 1), "newsletter": (1, 0)}
    by_rep = await _report(http, stack, admin_headers, "funnel", by="rep", **since)
    assert sum(g["counts"]["handed_off"] for g in by_rep if g["key"] != "(none)") == 6

    speed = await _report(http, stack, admin_headers, "speed-to-lead", **since)
    fast = speed["to_first_contact_histogram"][0]
    assert (fast["bucket"], fast["leads"], fast["won"], fast["win_rate"]) == (
        "< 5 min", 3, 1, 0.3333)
    assert speed["never_contacted"] == 3 and speed["to_handoff"]["count"] == 6

    calibration = await _report(http, stack, admin_headers, "score-calibration", **since)
    mql = {r["key"]: (r["leads"], r["won"]) for r in calibration["by_mql"]}
    assert mql == {"mql": (6, 2), "not_mql": (2, 0)}

    rejections = await _report(http, stack, admin_headers, "rejections", **since)
    assert rejections["reasons"] == {"not_a_fit": 1}
    assert rejections["by_source"] == [{"key": "google", "total": 1,
                                        "reasons": {"not_a_fit": 1}}]

    # The first lead came from q4-launch and later touched the webinar; the other win is brand.
    expected = {"first_touch": {"q4-launch": 1_000_000, "brand": 500_000},
                "last_touch": {"webinar": 1_000_000, "brand": 500_000},
                "linear": {"q4-launch": 500_000, "webinar": 500_000, "brand": 500_000}}
    for model, revenue in expected.items():
        report = await _report(http, stack, admin_headers, "attribution", model=model, **since)
        assert report["currency"] == "EUR"
        assert {r["key"]: r["revenue_minor"] for r in report["rows"]} == revenue, model


async def test_reports_need_a_key_with_reports_scope_and_name_bad_input(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    url = f"{stack.url('outcomes')}/v1/reports/attribution"
    assert (await http.get(url)).status_code == 401
    r = await http.get(url, headers=admin_headers, params={"model": "z_shaped"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "model"
    r = await http.get(url, headers=admin_headers, params={
        "from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to"
    assert (await http.post(f"{stack.url('outcomes')}/v1/read-model/rebuild")).status_code == 401


# --- the dashboard -------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                    args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def _bars(page: Page, chart: str) -> dict[tuple[str, str], str]:
    """(key, series) -> value of each bar of a chart, as the page shows it."""
    bars = await page.eval_on_selector_all(
        f'svg[data-chart="{chart}"] g.bar',
        "els => els.map(e => [e.dataset.key, e.dataset.series, e.dataset.value])")
    return {(key, series): value for key, series, value in bars}


def _shown(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


async def test_dashboard_shows_in_chromium_what_the_api_returns(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        browser: Browser, scenario: Scenario, tmp_path: Path) -> None:
    outcomes = stack.url("outcomes")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    # Offline: every request must go to outcomes itself.
    foreign: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(outcomes)
            else foreign.append(req.url))

    await page.goto(f"{outcomes}/dashboard")
    assert page.url.endswith("/dashboard/login")
    await page.fill("input[name=api_key]", "llk_not-a-key")
    await page.click("button[type=submit]")
    assert "unknown or lacks" in await page.inner_text("body")
    await page.fill("input[name=api_key]", stack.admin_key)
    await page.click("button[type=submit]")
    await page.wait_for_selector('svg[data-chart="funnel"]')

    today = datetime.now(UTC).date()
    window = {"from": datetime.combine(today, datetime.min.time(), UTC).isoformat(),
              "to": datetime.combine(today + timedelta(days=1), datetime.min.time(),
                                     UTC).isoformat()}

    async def page_matches_api() -> None:
        await page.goto(f"{outcomes}/dashboard?from={today}&to={today}")
        [funnel] = await _report(http, stack, admin_headers, "funnel", **window)
        assert await _bars(page, "funnel") == {
            (stage, "leads"): str(n) for stage, n in funnel["counts"].items()}
        by_source = await _report(http, stack, admin_headers, "funnel", by="source", **window)
        shown = await _bars(page, "conversion-by-source")
        for group in by_source:
            counts = group["counts"]
            assert float(shown[(group["key"], "lead to won")]) == pytest.approx(
                counts["won"] / counts["lead"], abs=1e-5)
            assert float(shown[(group["key"], "lead to MQL")]) == pytest.approx(
                counts["mql"] / counts["lead"], abs=1e-5)
        speed = await _report(http, stack, admin_headers, "speed-to-lead", **window)
        histogram = await _bars(page, "speed-to-lead")
        win_rates = await _bars(page, "win-rate-by-response")
        for bucket in speed["to_first_contact_histogram"]:
            assert histogram[(bucket["bucket"], "handoff to first contact")] == \
                str(bucket["leads"])
            assert win_rates[(bucket["bucket"], "win rate")] == _shown(bucket["win_rate"])
        calibration = await _report(http, stack, admin_headers, "score-calibration", **window)
        assert await _bars(page, "score-calibration") == {
            (r["key"], "win rate"): _shown(r["win_rate"]) for r in calibration["by_band"]}
        assert await _bars(page, "mql-calibration") == {
            (r["key"], "win rate"): _shown(r["win_rate"]) for r in calibration["by_mql"]}
        rejections = await _report(http, stack, admin_headers, "rejections", **window)
        assert await _bars(page, "rejection-reasons") == {
            (reason, "rejections"): str(n) for reason, n in rejections["reasons"].items()}
        for model in ("linear", "w_shaped"):
            await page.click(f'a[data-model="{model}"]')
            await page.wait_for_selector(f'table.attribution[data-model="{model}"]')
            rows = await page.eval_on_selector_all(
                "table.attribution tbody tr[data-key]",
                "els => els.map(e => [e.dataset.key, Number(e.dataset.revenue)])")
            api = await _report(http, stack, admin_headers, "attribution", model=model,
                                **window)
            assert rows == [[r["key"], r["revenue_minor"]] for r in api["rows"]]
            assert len(rows) >= 2

    await eventually(page_matches_api, timeout_s=30)
    screenshot = tmp_path / "dashboard.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    print(f"\ndashboard screenshot: {screenshot}")
    assert foreign == []

    await page.click("text=sign out")
    await page.goto(f"{outcomes}/dashboard")
    assert page.url.endswith("/dashboard/login")
    await page.close()


# --- rebuild -------------------------------------------------------------------------------


async def _every_report(http: httpx.AsyncClient, stack: Stack,
                        headers: dict[str, str]) -> dict[str, Any]:
    reports = {"funnel": await _report(http, stack, headers, "funnel")}
    for by in ("period", "source", "campaign", "utm_medium", "rep", "score_band"):
        reports[f"funnel_{by}"] = await _report(http, stack, headers, "funnel", by=by)
    for name in ("speed-to-lead", "score-calibration", "rejections"):
        reports[name] = await _report(http, stack, headers, name)
    for model in ("first_touch", "last_touch", "linear", "u_shaped", "w_shaped"):
        for by in ("campaign", "source"):
            reports[f"attribution_{model}_{by}"] = await _report(
                http, stack, headers, "attribution", model=model, by=by)
    funnel = await http.get(f"{stack.url('outcomes')}/v1/funnel", headers=headers)
    reports["v1_funnel"] = funnel.json()
    return reports


async def test_rebuild_from_kafka_gives_identical_numbers(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        scenario: Scenario) -> None:
    # Wait until nothing is still arriving: two readings in a row agree.
    previous: list[dict[str, Any]] = []

    async def settled() -> dict[str, Any]:
        current = await _every_report(http, stack, admin_headers)
        same = previous and previous[-1] == current
        previous.append(current)
        assert same, "numbers still moving"
        return current
    before = await eventually(settled, timeout_s=60, interval_s=1)
    assert before["funnel"][0]["counts"]["won"] >= 2

    # Drop the read model behind the service's back: the numbers are gone.
    engine = create_engine(stack.settings.database_url_for("outcomes"), pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE funnel_leads, touches, closed_deals"))
    await engine.dispose()
    assert (await _report(http, stack, admin_headers, "funnel"))[0]["counts"]["lead"] == 0

    r = await http.post(f"{stack.url('outcomes')}/v1/read-model/rebuild",
                        headers=admin_headers, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["events"] > 0 and r.json()["leads"] == before["funnel"][0]["counts"]["lead"]
    assert await _every_report(http, stack, admin_headers) == before
