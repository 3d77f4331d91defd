"""Outcomes end to end: a small month of sales work through the public APIs, the reports a
marketer reads, the dashboard in headless Chromium, and a rebuild from Kafka."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page
from sqlalchemy import text

from leadloop.db import create_engine
from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead, unqualified_lead
from tests.e2e.handoff_fixtures import assignment_of
from tests.support import eventually
from tests.support.browser import desktop_page, keep_screenshot, submit_api_key

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.e2e]

LINKEDIN = {"channel": "form", "utm_source": "linkedin", "utm_campaign": "q4-launch"}
GOOGLE = {"channel": "form", "utm_source": "google", "utm_campaign": "brand"}
NEWSLETTER = {"channel": "form", "utm_source": "newsletter", "utm_campaign": "webinar"}


@dataclass
class Scenario:
    """What the sales team did, and since when."""

    started: datetime
    hot: list[str]
    cold: list[str]


async def _report(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str], name: str,
                  **params: Any) -> Any:
    r = await http.get(f"{stack.url('outcomes')}/v1/reports/{name}", headers=headers,
                       params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def _funnel(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                  **params: Any) -> list[dict[str, Any]]:
    """The funnel report's groups (one overall, or one per value of `by`)."""
    groups: list[dict[str, Any]] = (await _report(http, stack, headers, "funnel",
                                                  **params))["groups"]
    return groups


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
        assignments = [str((await assignment_of(http, stack, headers, lead))["id"])
                       for lead in hot]

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
            funnel = await _funnel(http, stack, headers, **{"from": started.isoformat()})
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
    [funnel] = await _funnel(http, stack, admin_headers, **since)
    steps = {(s["from_stage"], s["to_stage"]): s for s in funnel["steps"]}
    assert steps[("lead", "mql")]["rate"] == 0.75
    assert steps[("opportunity", "won")]["rate"] == 0.6667
    assert steps[("lead", "mql")]["time"]["count"] == 6
    by_source = await _funnel(http, stack, admin_headers, by="source", **since)
    assert {g["key"]: (g["counts"]["lead"], g["counts"]["won"]) for g in by_source} == {
        "google": (4, 1), "linkedin": (3, 1), "newsletter": (1, 0)}
    by_rep = await _funnel(http, stack, admin_headers, by="rep", **since)
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
    # A time without a zone is refused; a plain date is taken as that whole UTC day.
    r = await http.get(url, headers=admin_headers, params={"from": "2026-11-01T10:00:00"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "from"


async def test_reports_take_plain_dates_as_whole_utc_days(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    await post_lead(http, stack, admin_headers, unqualified_lead())
    today = datetime.now(UTC).date()

    async def dates_mean_whole_days() -> None:
        by_dates = await _funnel(http, stack, admin_headers, **{
            "from": today.isoformat(), "to": today.isoformat()})
        by_times = await _funnel(http, stack, admin_headers, **_api_window(today, today))
        assert by_dates == by_times and by_dates[0]["counts"]["lead"] >= 1
    await eventually(dates_mean_whole_days)


# --- the dashboard -------------------------------------------------------------------------



async def _bars(page: Page, chart: str) -> dict[tuple[str, str], str]:
    """(key, series) -> value of each bar of a chart, as the page shows it."""
    bars = await page.eval_on_selector_all(
        f'svg[data-chart="{chart}"] g.bar',
        "els => els.map(e => [e.dataset.key, e.dataset.series, e.dataset.value])")
    return {(key, series): value for key, series, value in bars}


async def _rates(page: Page, chart: str) -> dict[str, str | None]:
    """key -> the conversion rate a bar shows besides its value (None: it shows none)."""
    bars = await page.eval_on_selector_all(
        f'svg[data-chart="{chart}"] g.bar', "els => els.map(e => [e.dataset.key, "
        "e.dataset.rate === undefined ? null : e.dataset.rate])")
    return dict(bars)


def _shown(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _api_window(start: date | None, end: date | None) -> dict[str, str]:
    """The report API's window for the dashboard's period [start, end] (whole UTC days)."""
    window = {}
    if start is not None:
        window["from"] = datetime.combine(start, datetime.min.time(), UTC).isoformat()
    if end is not None:
        window["to"] = datetime.combine(end + timedelta(days=1), datetime.min.time(),
                                        UTC).isoformat()
    return window


async def _charts_match_api(page: Page, http: httpx.AsyncClient, stack: Stack,
                            headers: dict[str, str], window: dict[str, str]) -> int:
    """Every chart on the page against the report API for the same window; returns how many
    leads the funnel shows."""
    [funnel] = await _funnel(http, stack, headers, **window)
    assert await _bars(page, "funnel") == {
        (stage, "leads"): str(n) for stage, n in funnel["counts"].items()}
    rates = {stage: None for stage in funnel["counts"]}
    rates.update({s["to_stage"]: _shown(s["rate"]) or None for s in funnel["steps"]})
    assert await _rates(page, "funnel") == rates

    # Conversion by source: the same sources both ways, and each bar's share.
    by_source = await _funnel(http, stack, headers, by="source", **window)
    shown = await _bars(page, "conversion-by-source")
    assert set(shown) == {(g["key"], series) for g in by_source
                          for series in ("lead to MQL", "lead to won")}
    for group in by_source:
        counts = group["counts"]
        assert float(shown[(group["key"], "lead to won")]) == pytest.approx(
            counts["won"] / counts["lead"], abs=1e-5)
        assert float(shown[(group["key"], "lead to MQL")]) == pytest.approx(
            counts["mql"] / counts["lead"], abs=1e-5)

    speed = await _report(http, stack, headers, "speed-to-lead", **window)
    assert await _bars(page, "speed-to-lead") == {
        **{(b["bucket"], "handoff to first contact"): str(b["leads"])
           for b in speed["to_first_contact_histogram"]},
        **{(b["bucket"], "created to handoff"): str(b["leads"])
           for b in speed["to_handoff_histogram"]}}
    assert await _bars(page, "win-rate-by-response") == {
        (b["bucket"], "win rate"): _shown(b["win_rate"])
        for b in speed["to_first_contact_histogram"]}

    calibration = await _report(http, stack, headers, "score-calibration", **window)
    assert await _bars(page, "score-calibration") == {
        (r["key"], "win rate"): _shown(r["win_rate"]) for r in calibration["by_band"]}
    assert await _bars(page, "mql-calibration") == {
        (r["key"], "win rate"): _shown(r["win_rate"]) for r in calibration["by_mql"]}
    rejections = await _report(http, stack, headers, "rejections", **window)
    assert await _bars(page, "rejection-reasons") == {
        (reason, "rejections"): str(n) for reason, n in rejections["reasons"].items()}
    return int(funnel["counts"]["lead"])


async def _attribution_matches_api(page: Page, http: httpx.AsyncClient, stack: Stack,
                                   headers: dict[str, str], window: dict[str, str],
                                   model: str, by: str) -> int:
    """The attribution table (campaign or source, won deals, revenue) against the API; returns
    its number of rows."""
    table = page.locator("table.attribution")
    assert (await table.get_attribute("data-model"), await table.get_attribute("data-by")) == (
        model, by)
    rows = await page.eval_on_selector_all(
        "table.attribution tbody tr[data-key]",
        "els => els.map(e => [e.dataset.key, Number(e.dataset.revenue), e.dataset.won])")
    api = await _report(http, stack, headers, "attribution", model=model, by=by, **window)
    assert rows == [[r["key"], r["revenue_minor"], _shown(r["won_deals"])] for r in api["rows"]]
    return len(rows)


async def test_dashboard_shows_in_chromium_what_the_api_returns(
        stack: Stack, admin_headers: dict[str, str], scoped_keys: dict[str, str],
        http: httpx.AsyncClient, browser: Browser, scenario: Scenario, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = stack.url("outcomes")
    headers = admin_headers
    page = await desktop_page(browser)
    # Offline: every request must go to outcomes itself.
    foreign: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(outcomes)
            else foreign.append(req.url))

    # Sign in: an unknown key and a key without reports:read are refused and open nothing.
    await page.goto(f"{outcomes}/dashboard")
    assert page.url.endswith("/dashboard/login")
    for refused in ("llk_not-a-key", scoped_keys["deals:write"]):
        await submit_api_key(page, refused)
        assert "unknown or lacks" in await page.inner_text("body")
        await page.goto(f"{outcomes}/dashboard")
        assert page.url.endswith("/dashboard/login")
    await submit_api_key(page, stack.admin_key)
    await page.wait_for_selector('svg[data-chart="funnel"]')

    # The period filter, through its form: today only.
    today = datetime.now(UTC).date()
    await page.fill("form.period input[name=from]", today.isoformat())
    await page.fill("form.period input[name=to]", today.isoformat())
    await page.click("form.period button[type=submit]")
    await page.wait_for_url(f"**/dashboard?*from={today}*to={today}*")
    today_window = _api_window(today, today)

    async def today_matches() -> int:
        await page.reload()
        return await _charts_match_api(page, http, stack, headers, today_window)
    leads_today = await eventually(today_matches, timeout_s=30)
    assert leads_today >= 8

    # Attribution: every model, crediting campaigns and then sources, through the switches.
    for by in ("campaign", "source"):
        await page.click(f'a[data-by="{by}"]')
        for model in ("first_touch", "last_touch", "linear", "u_shaped", "w_shaped"):
            await page.click(f'a[data-model="{model}"]')
            await page.wait_for_selector(
                f'table.attribution[data-model="{model}"][data-by="{by}"]')

            async def attribution_matches(model: str = model, by: str = by) -> int:
                await page.reload()
                return await _attribution_matches_api(page, http, stack, headers,
                                                      today_window, model, by)
            assert await eventually(attribution_matches, timeout_s=30) >= 2, (model, by)

    await page.click('a[data-by="campaign"]')
    await page.click('a[data-model="linear"]')
    await page.wait_for_selector('table.attribution[data-model="linear"][data-by="campaign"]')
    await eventually(today_matches, timeout_s=30)
    screenshot = tmp_path / "dashboard.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    keep_screenshot(screenshot)
    assert screenshot.stat().st_size > 10_000
    with capsys.disabled():  # shown even under -q, so a person can open it after the run
        print(f"\ndashboard screenshot: {screenshot}")

    # A period before any test data: the form changes every number, to the API's (none).
    await page.fill("form.period input[name=from]", "2001-01-01")
    await page.fill("form.period input[name=to]", "2001-01-31")
    await page.click("form.period button[type=submit]")
    await page.wait_for_url("**/dashboard?*from=2001-01-01*")
    assert await _charts_match_api(page, http, stack, headers,
                                   _api_window(date(2001, 1, 1), date(2001, 1, 31))) == 0
    assert "no won deals" in await page.inner_text("table.attribution")

    # The presets: the last 7 days (includes today), then all time.
    await page.click("form.period a:text-is('7 days')")
    week_start = today - timedelta(days=6)
    await page.wait_for_url(f"**/dashboard?*from={week_start}*")

    async def week_matches() -> int:
        await page.reload()
        return await _charts_match_api(page, http, stack, headers, _api_window(week_start, None))
    assert await eventually(week_matches, timeout_s=30) >= leads_today
    await page.click("form.period a:text-is('all time')")
    await page.wait_for_selector('svg[data-chart="funnel"]')
    assert "from=" not in page.url

    async def all_time_matches() -> int:
        await page.reload()
        return await _charts_match_api(page, http, stack, headers, {})
    assert await eventually(all_time_matches, timeout_s=30) >= leads_today
    assert foreign == []

    await page.click("text=sign out")
    await page.goto(f"{outcomes}/dashboard")
    assert page.url.endswith("/dashboard/login")
    await page.close()


async def test_dashboard_opens_with_an_api_key_header(
        stack: Stack, scoped_keys: dict[str, str], browser: Browser,
        scenario: Scenario) -> None:
    """A script (or a proxy) can skip the form by sending X-API-Key; it needs reports:read."""
    outcomes = stack.url("outcomes")
    for key, opens in ((stack.admin_key, True), (scoped_keys["reports:read"], True),
                       (scoped_keys["deals:write"], False)):
        context = await browser.new_context(extra_http_headers={"X-API-Key": key})
        page = await context.new_page()
        await page.goto(f"{outcomes}/dashboard")
        assert page.url.endswith("/dashboard/login") is not opens, key
        if opens:
            await page.wait_for_selector('svg[data-chart="funnel"] g.bar')
            assert await page.locator("table.attribution").count() == 1
        await context.close()


# --- rebuild -------------------------------------------------------------------------------


async def _every_report(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                        since: datetime) -> dict[str, Any]:
    """Every report over the leads created since `since`: the leads of the tests before this
    one can still change meanwhile (an SLA timer reassigning a lead nobody accepted), and
    would make a rebuild look different for reasons of their own."""
    window = {"from": since.isoformat()}
    reports = {"funnel": await _funnel(http, stack, headers, **window)}
    for by in ("period", "source", "campaign", "utm_medium", "rep", "score_band"):
        reports[f"funnel_{by}"] = await _funnel(http, stack, headers, by=by, **window)
    for name in ("speed-to-lead", "score-calibration", "rejections"):
        reports[name] = await _report(http, stack, headers, name, **window)
    for model in ("first_touch", "last_touch", "linear", "u_shaped", "w_shaped"):
        for by in ("campaign", "source"):
            reports[f"attribution_{model}_{by}"] = await _report(
                http, stack, headers, "attribution", model=model, by=by, **window)
    funnel = await http.get(f"{stack.url('outcomes')}/v1/funnel", headers=headers,
                            params=window)
    reports["v1_funnel"] = funnel.json()
    return reports


async def test_rebuild_from_kafka_gives_identical_numbers(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        scenario: Scenario) -> None:
    # Wait until nothing is still arriving: two readings in a row agree.
    previous: list[dict[str, Any]] = []

    async def settled() -> dict[str, Any]:
        current = await _every_report(http, stack, admin_headers, scenario.started)
        same = previous and previous[-1] == current
        previous.append(current)
        assert same, "numbers still moving"
        return current
    before = await eventually(settled, timeout_s=60, interval_s=1)
    assert before["funnel"][0]["counts"]["won"] >= 2
    all_leads = (await _funnel(http, stack, admin_headers))[0]["counts"]["lead"]

    # Drop the read model behind the service's back: the numbers are gone.
    engine = create_engine(stack.settings.database_url_for("outcomes"), pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE funnel_leads, touches, closed_deals"))
    await engine.dispose()
    assert (await _funnel(http, stack, admin_headers))[0]["counts"]["lead"] == 0

    r = await http.post(f"{stack.url('outcomes')}/v1/read-model/rebuild",
                        headers=admin_headers, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["events"] > 0 and r.json()["leads"] == all_leads
    assert await _every_report(http, stack, admin_headers, scenario.started) == before
