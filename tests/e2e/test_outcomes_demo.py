"""`leadloop demo` on a small scale: it drives the stack's public APIs, reps of different speed
land in different response buckets, and the reports and the dashboard fill up.

The demo waits real time for a rep's call (handoff stamps it), so showing a second response
bucket (5-30 min) takes this test a little over five minutes: Bob is told to call back after
302-310 s, Ann within 20 s; Cleo's and Dan's calls would come long after the 6-minute run.
"""

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from leadloop_devstack.stack import Stack
from outcomes.demo.plan import REPS
from outcomes.demo.run import DemoConfig, run_demo
from outcomes.reports.sales import RESPONSE_BUCKETS, response_bucket
from tests.support import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.realtime]

ANN, BOB = REPS[0], REPS[1]


async def _contact_delays(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                          leads: list[Any]) -> dict[str, list[float]]:
    """Rep name -> seconds from handoff to first contact of each lead they called, as handoff
    (the system of record for calls) has them."""
    delays: dict[str, list[float]] = defaultdict(list)
    for lead in leads:
        if lead.assignment_id is None:
            continue
        r = await http.get(f"{stack.url('handoff')}/v1/leads/{lead.lead_id}/assignment",
                           headers=headers)
        assert r.status_code == 200, r.text
        a = r.json()
        if a["contacted_at"]:
            delays[a["rep"]["name"]].append((datetime.fromisoformat(a["contacted_at"])
                                             - datetime.fromisoformat(a["handed_off_at"]))
                                            .total_seconds())
    return delays


@pytest.mark.timeout(900)  # the demo waits over five real minutes for Bob's calls
async def test_demo_shows_rep_speeds_in_their_buckets_in_reports_and_dashboard(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient,
        browser: Browser) -> None:
    outcomes = stack.url("outcomes")
    started = datetime.now(UTC)
    since = {"from": started.isoformat()}
    config = DemoConfig(
        urls={name: stack.url(name) for name in ("capture", "handoff", "outcomes")},
        api_key=stack.admin_key, leads=200, minutes=6, stream_share=0.05, seed=3,
        answer_delays={ANN.email: (1, 20), BOB.email: (302, 310)}, close_after_s=(1, 5))
    result = await run_demo(config)
    assert result["leads"] == 200 and result["handed_off"] > 20
    assert result["calls_after_the_run"] > 0  # Cleo's and Dan's, due after 30 min and 1 h

    # Each rep's calls fall in their own bucket, as handoff recorded them.
    delays = await _contact_delays(http, stack, admin_headers, result["planned"])
    assert {response_bucket(s) for s in delays[ANN.name]} == {"< 5 min"}
    assert {response_bucket(s) for s in delays[BOB.name]} == {"5-30 min"}
    assert not {name for name in delays} & {rep.name for rep in REPS[2:]}
    called = defaultdict(int)
    for seconds in (s for rep in delays.values() for s in rep):
        called[response_bucket(seconds)] += 1

    async def reports_filled() -> dict[str, Any]:
        r = await http.get(f"{outcomes}/v1/reports/funnel", headers=admin_headers, params=since)
        counts = r.json()["groups"][0]["counts"]
        assert counts["lead"] == 200 and counts["handed_off"] == result["handed_off"]
        assert (counts["won"], counts["lost"]) == (result["won"], result["lost"])
        r = await http.get(f"{outcomes}/v1/reports/speed-to-lead", headers=admin_headers,
                           params=since)
        speed = r.json()
        assert {b["bucket"]: b["leads"] for b in speed["to_first_contact_histogram"]} == {
            label: called[label] for label, _, _ in RESPONSE_BUCKETS}
        return counts
    counts = await eventually(reports_filled, timeout_s=60)
    assert counts["won"] + counts["lost"] > 0
    r = await http.get(f"{outcomes}/v1/reports/rejections", headers=admin_headers, params=since)
    assert r.json()["total"] > 0

    # The dashboard, in Chromium, shows the demo: leads, both buckets, rejections, deals.
    context = await browser.new_context(extra_http_headers={"X-API-Key": stack.admin_key})
    page = await context.new_page()
    await page.goto(f"{outcomes}/dashboard?from={started.date()}")

    async def bar(chart: str, key: str, series: str) -> float:
        value = await page.get_attribute(
            f'svg[data-chart="{chart}"] g.bar[data-key="{key}"][data-series="{series}"]',
            "data-value")
        return float(value or 0)
    assert await bar("funnel", "lead", "leads") >= 200
    for bucket in ("< 5 min", "5-30 min"):
        assert await bar("speed-to-lead", bucket, "handoff to first contact") >= \
            called[bucket] > 0
    assert await page.locator('svg[data-chart="rejection-reasons"] g.bar').count() > 0
    assert await bar("funnel", "won", "leads") + await bar("funnel", "lost", "leads") > 0
    if counts["won"]:
        assert await page.locator("table.attribution tbody tr[data-key]").count() > 0
    await context.close()
