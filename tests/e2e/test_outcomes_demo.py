"""`leadloop demo` on a small scale: it drives the stack's public APIs and fills the reports."""

from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from outcomes.demo import DemoConfig, run_demo
from tests.support import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def test_small_demo_fills_funnel_attribution_and_speed_reports(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    outcomes = stack.url("outcomes")

    async def funnel() -> dict[str, int]:
        r = await http.get(f"{outcomes}/v1/reports/funnel", headers=admin_headers)
        return dict(r.json()[0]["counts"])
    before = await funnel()
    config = DemoConfig(urls={name: stack.url(name) for name in ("capture", "handoff",
                                                                 "outcomes")},
                        api_key=stack.admin_key, leads=120, later_minutes=0, chunk=60, seed=3)
    result = await run_demo(config)
    assert result["leads"] == 120 and result["handed_off"] > 10

    async def filled() -> dict[str, Any]:
        after = await funnel()
        assert after["lead"] - before["lead"] == 120
        assert after["handed_off"] - before["handed_off"] == result["handed_off"]
        assert after["won"] > before["won"] and after["lost"] > before["lost"]
        return after
    await eventually(filled, timeout_s=60)
    r = await http.get(f"{outcomes}/v1/reports/attribution", headers=admin_headers,
                       params={"model": "w_shaped"})
    keys = {row["key"] for row in r.json()["rows"]}
    assert {"q4-launch", "partner-referral"} & keys
    r = await http.get(f"{outcomes}/v1/reports/rejections", headers=admin_headers)
    assert r.json()["total"] > 0
