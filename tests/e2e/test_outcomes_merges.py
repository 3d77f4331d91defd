"""Outcomes end to end with capture's merges: a duplicate lead merged through capture's public API
counts once in the reports, with the deal sales won on it; undoing the merge counts both again;
a rebuild from Kafka gives the same numbers."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, unqualified_lead
from tests.support import eventually

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.e2e]

LINKEDIN = {"channel": "form", "utm_source": "linkedin", "utm_campaign": "q4-launch"}
GOOGLE = {"channel": "form", "utm_source": "google", "utm_campaign": "brand"}


async def _reports(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                   since: datetime) -> dict[str, Any]:
    """What a marketer reads about the leads created since `since`: the funnel's counts, leads
    and wins per source, revenue per campaign under three attribution models."""
    url, window = f"{stack.url('outcomes')}/v1/reports", {"from": since.isoformat()}

    async def report(name: str, **params: Any) -> Any:
        r = await http.get(f"{url}/{name}", headers=headers, params={**window, **params})
        assert r.status_code == 200, r.text
        return r.json()
    [funnel] = (await report("funnel"))["groups"]
    by_source = (await report("funnel", by="source"))["groups"]
    return {
        "counts": funnel["counts"],
        "by_source": {g["key"]: (g["counts"]["lead"], g["counts"]["won"]) for g in by_source},
        **{model: {r["key"]: r["revenue_minor"]
                   for r in (await report("attribution", model=model))["rows"]}
           for model in ("first_touch", "last_touch", "linear")},
    }


async def test_a_merged_duplicate_counts_once_with_its_deal_until_the_merge_is_undone(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    started = datetime.now(UTC)
    capture, headers = stack.url("capture"), admin_headers
    # Ann signs up from LinkedIn, then again from Google with another address; sales wins a
    # deal on the second lead.
    ann = await post_lead(http, stack, headers, {**unqualified_lead(), "source": LINKEDIN})
    again = await post_lead(http, stack, headers, {**unqualified_lead(), "source": GOOGLE})
    r = await http.post(f"{stack.url('outcomes')}/v1/deals", headers=headers, json={
        "external_id": f"crm-{again}", "lead_id": again, "status": "won",
        "amount_minor": 700_000, "currency": "EUR"})
    assert r.status_code in (200, 201), r.text

    async def counts_two() -> None:
        seen = await _reports(http, stack, headers, started)
        assert seen["by_source"] == {"linkedin": (1, 0), "google": (1, 1)}, seen
        assert seen["first_touch"] == {"brand": 700_000}, seen
    await eventually(counts_two, timeout_s=60)

    merged = await http.post(f"{capture}/v1/leads/{ann}/merges", headers=headers,
                             json={"duplicate_lead_id": again})
    assert merged.status_code == 201, merged.text
    one: dict[str, Any] = {}

    async def counts_one() -> None:
        seen = await _reports(http, stack, headers, started)
        assert seen["counts"] == {"lead": 1, "mql": 0, "handed_off": 0, "accepted": 0,
                                  "opportunity": 1, "won": 1, "lost": 0}, seen
        # Ann as she first came, with the deal won on the duplicate and both leads' touches.
        assert seen["by_source"] == {"linkedin": (1, 1)}, seen
        assert seen["first_touch"] == {"q4-launch": 700_000}, seen
        assert seen["last_touch"] == {"brand": 700_000}, seen
        assert seen["linear"] == {"q4-launch": 350_000, "brand": 350_000}, seen
        one.update(seen)
    await eventually(counts_one, timeout_s=60)

    async def ann_timeline_holds(lead_ids: set[str]) -> None:
        r = await http.get(f"{stack.url('outcomes')}/v1/leads/{ann}/timeline", headers=headers,
                           params={"limit": 200})
        assert r.status_code == 200, r.text
        entries = r.json()["items"]
        assert {e["lead_id"] for e in entries} == lead_ids, entries
        won = [e["lead_id"] for e in entries if e["kind"] == "deal_won"]
        assert won == ([again] if again in lead_ids else []), entries

    # Her timeline tells both records' story, each entry naming the record it happened to.
    await eventually(lambda: ann_timeline_holds({ann, again}), timeout_s=60)

    r = await http.post(f"{stack.url('outcomes')}/v1/read-model/rebuild", headers=headers,
                        timeout=180)
    assert r.status_code == 200, r.text
    assert await _reports(http, stack, headers, started) == one, "a rebuild counts the same"

    undone = await http.post(f"{capture}/v1/merges/{merged.json()['merge_id']}/undo",
                             headers=headers)
    assert undone.status_code == 200, undone.text
    await eventually(counts_two, timeout_s=60)
    seen = await _reports(http, stack, headers, started)
    assert seen["counts"]["lead"] == 2 and seen["counts"]["won"] == 1
    assert seen["last_touch"] == {"brand": 700_000}
    await ann_timeline_holds({ann})
