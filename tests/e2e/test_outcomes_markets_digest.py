"""Markets and the digest end to end: leads with countries, regions, company sizes, industries
and custom properties go through capture, scoring, handoff and sales' actions; the market
breakdown matches what was done, counted here independently; the dashboard's market view shows
it in Chromium; and two extra outcomes replicas on a 20-second schedule mail each period's
digest exactly once to the SMTP sink, with the figures the report endpoints give."""

import asyncio
import re
import socket
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser
from scipy.stats import binomtest

from leadloop_devstack.services import ServiceProcess
from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead, unqualified_lead
from tests.support import eventually
from tests.support.browser import desktop_page, keep_screenshot, submit_api_key

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.e2e]



@dataclass
class Planned:
    """One lead as the test posts it, and what sales will do with it."""

    country: str | None
    region: str | None
    industry: str | None
    company_size: int | None
    plan: str | None
    qualified: bool
    actions: list[str] = field(default_factory=list)  # accept, reject, won:<amount> <cur>, ...
    lead_id: str = ""

    def body(self) -> dict[str, Any]:
        """The capture request."""
        body = qualified_lead() if self.qualified else unqualified_lead()
        for name in ("country", "region", "industry", "company_size"):
            body.pop(name, None)
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        if self.plan is not None:
            body["properties"] = {"plan": self.plan}
        return body

    def reached(self, stage: str) -> bool:
        """Whether the plan takes the lead to `stage`."""
        won = any(a.startswith("won") for a in self.actions)
        lost = any(a.startswith("lost") for a in self.actions)
        return {"lead": True, "mql": self.qualified, "handed_off": self.qualified,
                "accepted": "accept" in self.actions, "opportunity": won or lost, "won": won,
                "lost": lost}[stage]

    def revenue(self) -> dict[str, int]:
        """Won revenue per currency."""
        for action in self.actions:
            if action.startswith("won"):
                amount, currency = action.removeprefix("won:").split()
                return {currency: int(amount)}
        return {}


def market_plan() -> list[Planned]:
    """Ten leads in four markets; two wins in different currencies, a loss and a rejection."""
    de = [Planned("DE", "Bavaria", "software", 200, "pro", True) for _ in range(4)]
    us = [Planned("US", "California", "retail", 1200, "enterprise", True) for _ in range(3)]
    fr = [Planned("FR", None, None, None, "free", False) for _ in range(2)]
    nowhere = [Planned(None, None, None, None, None, False)]
    de[0].actions = ["contacted", "accept", "won:500000 EUR"]
    de[1].actions = ["accept", "lost:200000 EUR"]
    us[0].actions = ["contacted", "accept", "won:300000 USD"]
    us[1].actions = ["reject"]
    return de + us + fr + nowhere


MARKET_OF = {
    "country": lambda p: p.country or "(none)",
    "region": lambda p: f"{p.country}/{p.region}" if p.region else "(none)",
    "industry": lambda p: p.industry or "(none)",
    "company_size": lambda p: {200: "51-200", 1200: "1001-5000"}.get(p.company_size, "(none)"),
    "property:plan": lambda p: p.plan or "(none)",
    "source": lambda p: "linkedin" if p.qualified else "google",
}


def expected_markets(plan: list[Planned], by: str) -> dict[str, dict[str, Any]]:
    """Per market, counted straight from the plan; the interval from scipy."""
    groups: dict[str, list[Planned]] = defaultdict(list)
    for p in plan:
        groups[MARKET_OF[by](p)].append(p)
    result = {}
    for key, members in groups.items():
        won = sum(p.reached("won") for p in members)
        revenue: Counter[str] = Counter()
        for p in members:
            revenue.update(p.revenue())
        ci = binomtest(won, len(members)).proportion_ci(method="wilson")
        result[key] = {
            "leads": len(members),
            "counts": {s: sum(p.reached(s) for p in members) for s in
                       ("lead", "mql", "handed_off", "accepted", "opportunity", "won", "lost")},
            "revenue_minor": dict(revenue), "ci": (ci.low, ci.high),
        }
    return result


async def _assignment(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                      lead_id: str) -> str:
    async def assigned() -> str:
        r = await http.get(f"{stack.url('handoff')}/v1/leads/{lead_id}/assignment",
                           headers=headers)
        assert r.status_code == 200, r.text
        return str(r.json()["id"])
    return await eventually(assigned)


async def _get(http: httpx.AsyncClient, url: str, headers: dict[str, str],
               **params: Any) -> Any:
    r = await http.get(url, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def run_plan(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                   plan: list[Planned]) -> None:
    """Post every lead, then do what the plan says sales does."""
    for p in plan:
        p.lead_id = await post_lead(http, stack, headers, p.body())
    handoff, outcomes = stack.url("handoff"), stack.url("outcomes")
    for p in plan:
        if not p.actions:
            continue
        assignment = await _assignment(http, stack, headers, p.lead_id)
        for action in p.actions:
            if action in ("contacted", "accept"):
                r = await http.post(f"{handoff}/v1/assignments/{assignment}/{action}",
                                    headers=headers, json=None)
            elif action == "reject":
                r = await http.post(f"{handoff}/v1/assignments/{assignment}/reject",
                                    headers=headers, json={"reason_code": "not_a_fit"})
            else:
                status, money = action.split(":")
                amount, currency = money.split()
                r = await http.post(f"{outcomes}/v1/deals", headers=headers, json={
                    "external_id": f"crm-{p.lead_id}", "lead_id": p.lead_id, "status": status,
                    "amount_minor": int(amount), "currency": currency,
                    **({"lost_reason": "price"} if status == "lost" else {})})
            assert r.status_code in (200, 201), r.text


async def settled(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                  plan: list[Planned], window: dict[str, str]) -> None:
    """Wait until outcomes has seen everything the plan did."""
    async def all_seen() -> None:
        [funnel] = (await _get(http, f"{stack.url('outcomes')}/v1/reports/funnel", headers,
                               **window))["groups"]
        assert funnel["counts"] == {s: sum(p.reached(s) for p in plan) for s in funnel["counts"]}
        rejections = await _get(http, f"{stack.url('outcomes')}/v1/reports/rejections",
                                headers, **window)
        assert rejections["total"] == sum("reject" in p.actions for p in plan)
        speed = await _get(http, f"{stack.url('outcomes')}/v1/reports/speed-to-lead", headers,
                           **window)
        assert speed["to_first_contact"]["count"] == sum("contacted" in p.actions
                                                         for p in plan)
    await eventually(all_seen, timeout_s=60)


@dataclass
class MarketScenario:
    """The plan as it ran, and the window that holds exactly its leads."""

    plan: list[Planned]
    window: dict[str, str]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def markets(stack: Stack, admin_headers: dict[str, str],
                  reps: list[dict[str, Any]]) -> MarketScenario:
    """The market plan, run through the real pipeline."""
    started = datetime.now(UTC)
    plan = market_plan()
    async with httpx.AsyncClient(timeout=10) as http:
        await run_plan(http, stack, admin_headers, plan)
        window = {"from": started.isoformat(),
                  "to": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()}
        await settled(http, stack, admin_headers, plan, window)
    return MarketScenario(plan, window)


@pytest.mark.parametrize("by", sorted(MARKET_OF))
async def test_market_breakdown_matches_what_sales_did(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        markets: MarketScenario, by: str) -> None:
    report = await _get(http, f"{stack.url('outcomes')}/v1/reports/markets", admin_headers,
                        by=by, **markets.window)
    want = expected_markets(markets.plan, by)
    assert report["by"] == by and report["stage"] == "won"
    assert {r["key"] for r in report["rows"]} == set(want)
    overall = report["overall"]
    assert overall["leads"] == len(markets.plan)
    average = sum(p.reached("won") for p in markets.plan) / len(markets.plan)
    assert overall["conversion"]["rate"] == pytest.approx(average)
    for row in report["rows"]:
        w = want[row["key"]]
        assert row["leads"] == w["leads"] and row["counts"] == w["counts"], row["key"]
        assert row["revenue_minor"] == w["revenue_minor"]
        assert row["win_rate"] == pytest.approx(w["counts"]["won"] / w["leads"], abs=1e-4)
        assert row["conversion"]["ci_low"] == pytest.approx(w["ci"][0], abs=1e-4)
        assert row["conversion"]["ci_high"] == pytest.approx(w["ci"][1], abs=1e-4)
        # Ten leads: every market is a small sample, and none is called above or below.
        assert row["small_sample"] is True
        assert row["conversion"]["signal"] == "level"
    rates = [r["conversion"]["rate"] for r in report["rows"]]
    assert rates == sorted(rates, reverse=True)


async def test_market_breakdown_by_mql_and_bad_dimensions(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        markets: MarketScenario) -> None:
    url = f"{stack.url('outcomes')}/v1/reports/markets"
    report = await _get(http, url, admin_headers, by="country", stage="mql", min_sample=3,
                        **markets.window)
    rows = {r["key"]: r for r in report["rows"]}
    assert rows["DE"]["conversion"]["reached"] == 4 and rows["DE"]["small_sample"] is False
    assert rows["(none)"]["small_sample"] is True
    for bad in ("city", "property:", "property:has space"):
        r = await http.get(url, headers=admin_headers, params={"by": bad})
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["by"]
    r = await http.get(url, headers=admin_headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "by"
    r = await http.get(url, params={"by": "country"})
    assert r.status_code == 401


# --- the dashboard's market view --------------------------------------------------------------



async def test_dashboard_market_view_shows_the_ranked_api_numbers(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        browser: Browser, markets: MarketScenario, tmp_path: Path) -> None:
    outcomes = stack.url("outcomes")
    page = await desktop_page(browser)
    foreign: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(outcomes)
            else foreign.append(req.url))
    await page.goto(f"{outcomes}/dashboard/login")
    await submit_api_key(page, stack.admin_key)
    await page.wait_for_selector("table.markets")

    today = datetime.now(UTC).date()
    window = {"from": datetime.combine(today, datetime.min.time(), UTC).isoformat(),
              "to": datetime.combine(today + timedelta(days=1), datetime.min.time(),
                                     UTC).isoformat()}
    await page.goto(f"{outcomes}/dashboard?from={today}&to={today}")
    for dimension in ("country", "company_size", "industry", "region"):
        await page.click(f'a[data-market="{dimension}"]')
        await page.wait_for_selector(f'table.markets[data-by="{dimension}"]')

        async def page_matches_api(dimension: str = dimension) -> None:
            rows = await page.eval_on_selector_all(
                "table.markets tbody tr[data-key]",
                "els => els.map(e => [e.dataset.key, Number(e.dataset.leads), "
                "Number(e.dataset.won), e.dataset.rate, e.dataset.signal, e.dataset.small])")
            api = await _get(http, f"{outcomes}/v1/reports/markets", admin_headers,
                             by=dimension, **window)
            assert rows == [
                [r["key"], r["leads"], r["conversion"]["reached"],
                 "" if r["conversion"]["rate"] is None else f"{r['conversion']['rate']:g}",
                 r["conversion"]["signal"], str(r["small_sample"]).lower()]
                for r in api["rows"]]
            assert len(rows) >= 3
        await eventually(page_matches_api, timeout_s=30)
        if dimension == "country":
            # The plan's markets are on the page, each with a bar as wide as its win rate
            # (other tests' leads share the day, so the rates come from the API).
            keys = [r[0] for r in await page.eval_on_selector_all(
                "table.markets tbody tr[data-key]", "els => els.map(e => [e.dataset.key])")]
            assert {"DE", "US", "FR"} <= set(keys)
            api = await _get(http, f"{outcomes}/v1/reports/markets", admin_headers,
                             by="country", **window)
            rates = {r["key"]: r["conversion"]["rate"] or 0 for r in api["rows"]}
            assert rates["DE"] > 0
            for key in ("DE", "US", "FR"):
                width = await page.eval_on_selector(
                    f'table.markets tr[data-key="{key}"] .bar',
                    "e => e.getBoundingClientRect().width")
                expected = max(1, round(rates[key] * 160)) if rates[key] else 0
                assert abs(width - expected) <= 1, (key, width, rates[key])
    screenshot = tmp_path / "markets.png"
    await page.locator("table.markets").screenshot(path=str(screenshot))
    keep_screenshot(screenshot)
    assert screenshot.stat().st_size > 2_000
    print(f"\nmarket view screenshot: {screenshot}")
    assert foreign == []
    await page.close()


# --- the digest ---------------------------------------------------------------------------------

PERIOD_S = 20
DELAY_S = 10
RECIPIENTS = ["sales-lead@leadloop.test", "marketing@leadloop.test", "gone@bounce.invalid"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _replica(stack: Stack, number: int) -> ServiceProcess:
    """Another outcomes process on the same database and consumer group, with the digest on a
    short schedule (the stack's own outcomes keeps the weekly one and never claims these)."""
    env = {**stack.services["outcomes"].env,
           "LEADLOOP_OUTCOMES_PORT": str(port := _free_port()),
           "LEADLOOP_OUTCOMES_DIGEST_SCHEDULE": f"{PERIOD_S}s",
           "LEADLOOP_OUTCOMES_DIGEST_DELAY_S": str(DELAY_S),
           "LEADLOOP_OUTCOMES_DIGEST_POLL_INTERVAL_S": "0.5",
           "LEADLOOP_OUTCOMES_DIGEST_RECIPIENTS": ", ".join(RECIPIENTS),
           "LEADLOOP_OUTCOMES_SMTP_HOST": stack.settings.host,
           "LEADLOOP_OUTCOMES_SMTP_PORT": str(stack.smtp.port)}
    log = stack.settings.home / "logs" / f"outcomes-digest-{number}.log"
    return ServiceProcess("outcomes", stack.settings.host, port, env, log)


@pytest_asyncio.fixture(loop_scope="session")
async def replicas(stack: Stack) -> AsyncIterator[list[ServiceProcess]]:
    """Two digest replicas, stopped at the end."""
    started = [_replica(stack, n) for n in (1, 2)]
    for replica in started:
        replica.start()
    try:
        await asyncio.gather(*(r.wait_ready() for r in started))
        yield started
    finally:
        await asyncio.gather(*(asyncio.to_thread(r.stop) for r in started))


def _digest_mail(stack: Stack) -> dict[str, list[EmailMessage]]:
    by_period: dict[str, list[EmailMessage]] = defaultdict(list)
    for message in stack.received_mail():
        if (period := message.get("X-LeadLoop-Digest")) is not None:
            by_period[str(period)].append(message)
    return by_period


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None and part.get_content_subtype() == subtype
    return str(part.get_content())


async def _reports_for(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                       start: str, end: str) -> dict[str, Any]:
    url, window = f"{stack.url('outcomes')}/v1/reports", {"from": start, "to": end}
    [funnel] = (await _get(http, f"{url}/funnel", headers, **window))["groups"]
    return {"funnel": funnel,
            "speed": await _get(http, f"{url}/speed-to-lead", headers, **window),
            "rejections": await _get(http, f"{url}/rejections", headers, **window),
            "source": await _get(http, f"{url}/markets", headers, by="source", **window),
            "country": await _get(http, f"{url}/markets", headers, by="country", **window)}


def _assert_digest_is_the_reports(digest: dict[str, Any], reports: dict[str, Any]) -> None:
    counts, h = reports["funnel"]["counts"], digest["headline"]
    assert (h["leads"], h["mqls"], h["handoffs"], h["accepted"], h["opportunities"], h["won"],
            h["lost"]) == (counts["lead"], counts["mql"], counts["handed_off"],
                           counts["accepted"], counts["opportunity"], counts["won"],
                           counts["lost"])
    assert h["rejected"] == reports["rejections"]["total"]
    reasons = sorted(reports["rejections"]["reasons"].items(), key=lambda i: (-i[1], i[0]))
    assert [(r["reason"], r["count"]) for r in digest["top_rejection_reasons"]] == reasons[:3]
    speed = reports["speed"]["to_first_contact"]
    assert (digest["speed_to_lead"]["median_s"], digest["speed_to_lead"]["p90_s"],
            digest["speed_to_lead"]["contacted"]) == (speed["median_s"], speed["p90_s"],
                                                      speed["count"])
    assert h["win_rate"] == reports["source"]["overall"]["win_rate"]
    assert h["revenue_minor"] == reports["source"]["overall"]["revenue_minor"]
    for name, dimension in (("by_source", "source"), ("by_market", "country")):
        assert [(s["key"], s["leads"], s["won"], s["win_rate"], s["revenue_minor"],
                 s["signal"]) for s in digest[name]] == \
            [(r["key"], r["leads"], r["counts"]["won"], r["win_rate"], r["revenue_minor"],
              r["conversion"]["signal"]) for r in reports[dimension]["rows"]]


async def test_digest_is_mailed_once_per_period_with_the_reports_figures(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        reps: list[dict[str, Any]], replicas: list[ServiceProcess]) -> None:
    outcomes = stack.url("outcomes")
    # Start at the beginning of a period, so the leads and everything sales does with them
    # fall in one period and land well before it is composed (its end + DELAY_S).
    now = datetime.now(UTC).timestamp()
    await asyncio.sleep(PERIOD_S - now % PERIOD_S + 0.2)
    plan = [Planned("DE", None, "software", 200, "pro", True, ["contacted", "accept",
                                                                "won:400000 EUR"]),
            Planned("DE", None, "software", 200, None, True, ["reject"]),
            Planned("US", "Texas", "retail", 300, None, True),
            Planned("FR", None, None, None, None, False)]
    await run_plan(http, stack, admin_headers, plan)
    lead_period_start = datetime.fromtimestamp(now - now % PERIOD_S + PERIOD_S, UTC)
    period = f"{lead_period_start:%Y-%m-%dT%H:%M:%SZ}-{PERIOD_S}s"
    await settled(http, stack, admin_headers, plan, {
        "from": lead_period_start.isoformat(),
        "to": (lead_period_start + timedelta(seconds=PERIOD_S)).isoformat()})

    # A replica dies mid-way and comes back: nothing is sent twice.
    replicas[0].kill()
    replicas[0].start()
    await replicas[0].wait_ready()

    async def sent() -> dict[str, Any]:
        body = await _get(http, f"{outcomes}/v1/digests/{period}", admin_headers)
        assert body["status"] == "sent", body
        return body
    ours = await eventually(sent, timeout_s=PERIOD_S + DELAY_S + 30)
    assert (ours["delivered"], ours["refused"], ours["pending"], ours["attempts"]) == (2, 1, 0, 1)
    assert "bounce.invalid" in ours["last_error"]
    digest = ours["digest"]
    assert digest["headline"]["leads"] == 4 and digest["headline"]["won"] == 1
    assert digest["headline"]["revenue_minor"] == {"EUR": 400000}
    assert digest["top_rejection_reasons"] == [{"reason": "not_a_fit", "count": 1}]
    _assert_digest_is_the_reports(digest, await _reports_for(
        http, stack, admin_headers, digest["start"], digest["end"]))

    # Let one more period go out too, then check every digest the replicas made.
    async def next_sent() -> list[dict[str, Any]]:
        listing = (await _get(http, f"{outcomes}/v1/digests", admin_headers,
                              limit=500))["items"]
        short = [d for d in listing if d["schedule"] == f"{PERIOD_S}s"
                 and d["status"] == "sent"]
        assert any(d["start"] > ours["start"] for d in short), short
        return short
    short = await eventually(next_sent, timeout_s=PERIOD_S + DELAY_S + 30)
    latest = await _get(http, f"{outcomes}/v1/digests/latest", admin_headers)
    assert latest["schedule"] == f"{PERIOD_S}s" and latest["digest"] is not None

    mail = _digest_mail(stack)
    for row in short:
        # Exactly one message per period, to every recipient but the refused one.
        messages = mail[row["period"]]
        assert len(messages) == 1, (row["period"], len(messages))
        full = await _get(http, f"{outcomes}/v1/digests/{row['period']}", admin_headers)
        _assert_digest_is_the_reports(full["digest"], await _reports_for(
            http, stack, admin_headers, full["start"], full["end"]))
    assert set(mail) >= {row["period"] for row in short}
    [message] = mail[period]
    assert message["Subject"] == f"LeadLoop digest {period}: 4 leads, 3 MQLs, 1 won"
    assert {a.strip() for a in str(message["To"]).split(",")} == set(RECIPIENTS)
    text, html = _part(message, "plain"), _part(message, "html")
    counts = (await _reports_for(http, stack, admin_headers, digest["start"],
                                 digest["end"]))["funnel"]["counts"]
    assert re.search(rf"^New leads:\s+{counts['lead']}\s", text, re.M), text
    assert "not_a_fit: 1" in text and "EUR 4,000.00" in text
    for metric, value in (("leads", counts["lead"]), ("mqls", counts["mql"]),
                          ("won", counts["won"]), ("rejected", 1)):
        assert f'data-metric="{metric}">{value:,}<' in html, metric
    assert 'data-metric="country.DE.leads">2<' in html
