"""Lists page alike in every service: a client walking with limit=1 and next_cursor sees every
item exactly once, in the list's order, and the last page says so with a null cursor; a cursor
the API did not give is a 422 naming `cursor`."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.capture_fixtures import unique_email
from tests.e2e.handoff_fixtures import rep_key, team_with_rule
from tests.support import eventually, every_item

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def _walk_one_at_a_time(http: httpx.AsyncClient, url: str,
                              headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every item, one page of one item at a time."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1}
    for _ in range(1000):
        r = await http.get(url, headers=headers, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) == 1, page  # a page is never empty before the end
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]
    raise AssertionError(f"{url} never reached its last page")


async def _bad_cursor_is_refused(http: httpx.AsyncClient, url: str,
                                 headers: dict[str, str], cursor: str) -> None:
    r = await http.get(url, headers=headers, params={"cursor": cursor})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["cursor"], r.text


async def test_a_rules_versions_page_one_at_a_time_newest_first(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("handoff")
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    team, _reps, rule_id = await team_with_rule(http, stack, admin_headers, campaign, 600)
    only_this_campaign = [{"field": "source.utm_campaign", "op": "eq", "value": campaign}]
    for sla_s in (300, 120):
        changed = await http.put(f"{base}/v1/routing-rules/{rule_id}", headers=admin_headers,
                                 json={"name": "paged", "position": 10, "team": team,
                                       "accept_sla_s": sla_s, "conditions": only_this_campaign})
        assert changed.status_code == 200, changed.text
    url = f"{base}/v1/routing-rules/{rule_id}/versions"
    versions = await _walk_one_at_a_time(http, url, admin_headers)
    assert [(v["version"], v["accept_sla_s"]) for v in versions] == [
        (3, 120), (2, 300), (1, 600)]
    await _bad_cursor_is_refused(http, url, admin_headers, "not-a-cursor")

    # The current rules, in routing order, walk the same way (and hold this rule once).
    rules = await _walk_one_at_a_time(http, f"{base}/v1/routing-rules", admin_headers)
    assert [r["version"] for r in rules if r["id"] == rule_id] == [3]
    assert rules == await every_item(http, f"{base}/v1/routing-rules", admin_headers)
    await http.delete(f"{base}/v1/routing-rules/{rule_id}", headers=admin_headers)


async def test_a_leads_activities_page_one_at_a_time_newest_first(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")
    created = await http.post(f"{base}/v1/leads", headers=admin_headers,
                              json={"email": unique_email("pages")})
    lead_id = created.json()["lead_id"]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    # Two activities at the same instant: the id breaks the tie, so neither is lost or repeated.
    plan = [("page_view", 0), ("pricing_viewed", 60), ("demo_requested", 60),
            ("webinar_attended", 120)]
    accepted = await http.post(f"{base}/v1/activities", headers=admin_headers, json=[
        {"kind": kind, "lead_id": lead_id,
         "occurred_at": (start + timedelta(seconds=s)).isoformat()} for kind, s in plan])
    assert accepted.status_code == 202, accepted.text
    url = f"{base}/v1/leads/{lead_id}/activities"

    async def all_stored() -> list[dict[str, Any]]:
        page = (await http.get(url, headers=admin_headers)).json()
        assert len(page["items"]) == len(plan) and page["next_cursor"] is None, page
        return list(page["items"])

    whole = await eventually(all_stored)
    walked = await _walk_one_at_a_time(http, url, admin_headers)
    assert walked == whole
    kinds = [a["kind"] for a in walked]
    assert kinds[0] == "webinar_attended" and kinds[-1] == "page_view"
    assert sorted(kinds[1:3]) == ["demo_requested", "pricing_viewed"]
    # A cursor from another list (a rule version's: one number) is not this list's.
    await _bad_cursor_is_refused(http, url, admin_headers, "WzNd")


async def test_a_reps_keys_and_nurture_templates_page_one_at_a_time(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    _team, (ada, _ben), rule_id = await team_with_rule(http, stack, admin_headers,
                                                       f"c-{uuid.uuid4().hex[:8]}", 600)
    for name in ("laptop", "phone", "crm"):
        await rep_key(http, stack, admin_headers, ada, name)
    keys_url = f"{stack.url('handoff')}/v1/reps/{ada}/keys"
    keys = await _walk_one_at_a_time(http, keys_url, admin_headers)
    assert sorted(k["name"] for k in keys) == ["crm", "laptop", "phone"]
    assert keys == await every_item(http, keys_url, admin_headers)
    assert [k["created_at"] for k in keys] == sorted((k["created_at"] for k in keys),
                                                     reverse=True)

    # Nurture's templates (the seeded ones at least): by key, newest version first within one.
    templates_url = f"{stack.url('nurture')}/v1/templates"
    templates = await _walk_one_at_a_time(http, templates_url, admin_headers)
    order = [(t["key"], -t["version"]) for t in templates]
    assert order == sorted(order) and len(set(order)) == len(order)
    assert {"welcome", "pricing-guide"} <= {t["key"] for t in templates}
    await http.delete(f"{stack.url('handoff')}/v1/routing-rules/{rule_id}",
                      headers=admin_headers)
