"""A lead's timeline from outcomes, against the running stack: capture's activities, the score
and why, the assignment, what the rep did (and who), the deal; in time order, paged in the
shared envelope; gone when the person is erased."""

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead, service_dsn
from tests.e2e.handoff_fixtures import assignment_of
from tests.support import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def _timeline(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                    lead_id: str, **params: Any) -> httpx.Response:
    return await http.get(f"{stack.url('outcomes')}/v1/leads/{lead_id}/timeline",
                          headers=headers, params=params)


async def test_timeline_tells_the_leads_story_in_order_with_the_score_and_who_acted(
        stack: Stack, admin_headers: dict[str, str], scoped_keys: dict[str, str],
        reps: list[dict[str, Any]], http: httpx.AsyncClient) -> None:
    lead_id = await post_lead(http, stack, admin_headers, qualified_lead("tl"))
    activity = await http.post(f"{stack.url('capture')}/v1/activities", headers=admin_headers,
                               json={"kind": "page_view", "lead_id": lead_id,
                                     "url": "https://www.example.com/pricing"})
    assert activity.status_code == 202, activity.text
    assignment = await assignment_of(http, stack, admin_headers, lead_id)
    handoff = stack.url("handoff")
    sales = {"X-API-Key": scoped_keys["sales"]}
    for action, body in (("accept", None), ("contacted", {"channel": "phone"})):
        done = await http.post(f"{handoff}/v1/assignments/{assignment['id']}/{action}",
                               headers=sales, json=body)
        assert done.status_code == 200, done.text
    deal = await http.post(f"{stack.url('outcomes')}/v1/deals", headers=admin_headers, json={
        "external_id": f"tl-{uuid.uuid4().hex}", "lead_id": lead_id, "status": "won",
        "amount_minor": 120_000, "currency": "EUR"})
    assert deal.status_code == 201, deal.text
    reader = {"X-API-Key": scoped_keys["leads:read"]}

    async def whole_story() -> dict[str, Any]:
        response = await _timeline(http, stack, reader, lead_id, limit=500)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        kinds = [entry["kind"] for entry in body["items"]]
        for kind in ("created", "page_view", "scored", "qualified", "assigned", "accepted",
                     "contacted", "deal_won"):
            assert kind in kinds, kinds
        return body

    story = await eventually(whole_story)
    entries = story["items"]
    times = [entry["occurred_at"] for entry in entries]
    assert times == sorted(times)
    kinds = [entry["kind"] for entry in entries]
    assert kinds.index("created") < kinds.index("assigned") < kinds.index("accepted")
    # The story starts with the capture; a lifecycle stage change carries the time of the
    # event that moved the lead, and comes after it.
    assert kinds[0] == "created", kinds
    position = {entry["id"]: n for n, entry in enumerate(entries)}
    changes = [(n, entry["detail"]["cause_id"]) for n, entry in enumerate(entries)
               if entry["kind"] == "stage_changed"]
    assert changes and all(position[cause] < n for n, cause in changes if cause in position)
    by_kind = {entry["kind"]: entry for entry in entries}
    assert by_kind["accepted"]["actor"] == "test-sales"
    assert by_kind["contacted"]["summary"] == "First contact by phone"
    assert by_kind["page_view"]["detail"]["url"] == "https://www.example.com/pricing"
    assert by_kind["deal_won"]["detail"]["amount_minor"] == 120_000
    assert by_kind["assigned"]["detail"]["rep"]["id"] == assignment["rep"]["id"]
    # The score and why: the latest lead.scored, each rule with its points and reason.
    score = story["score"]
    [*_, latest] = [entry for entry in entries if entry["kind"] == "scored"]
    assert score["score"] == latest["detail"]["score"] >= assignment["lead"]["score"]
    assert score["contributions"] == latest["detail"]["contributions"]
    assert score["contributions"] and all(c["reason"] for c in score["contributions"])
    assert story["next_cursor"] is None

    # Pages of two walk the same entries as one page, then a null cursor. Entries may still
    # arrive (the won deal's lifecycle stage changes): a walk that raced one is walked again.
    async def pages_walk_the_whole_timeline() -> None:
        walked, cursor = [], None
        while True:
            page = (await _timeline(http, stack, reader, lead_id, limit=2,
                                    **({"cursor": cursor} if cursor else {}))).json()
            walked += [entry["id"] for entry in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        whole = (await _timeline(http, stack, reader, lead_id, limit=500)).json()["items"]
        assert walked == [entry["id"] for entry in whole]

    await eventually(pages_walk_the_whole_timeline)

    # Scoped: no key 401, a key without leads:read 403, a bad cursor 422 naming it.
    assert (await _timeline(http, stack, {}, lead_id)).status_code == 401
    assert (await _timeline(http, stack, {"X-API-Key": scoped_keys["reports:read"]},
                            lead_id)).status_code == 403
    bad = await _timeline(http, stack, reader, lead_id, cursor="bm9wZQ")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    assert (await _timeline(http, stack, reader, str(uuid.uuid4()))).status_code == 404

    # Erasure removes the lead's timeline: the API and the table.
    erased = await http.delete(f"{stack.url('capture')}/v1/leads/{lead_id}",
                               headers=admin_headers)
    assert erased.status_code == 204, erased.text

    async def forgotten() -> None:
        assert (await _timeline(http, stack, reader, lead_id)).status_code == 404
        conn = await asyncpg.connect(service_dsn(stack, "outcomes"))
        try:
            left = await conn.fetchval(
                "SELECT count(*) FROM timeline_entries WHERE lead_id = $1", uuid.UUID(lead_id))
        finally:
            await conn.close()
        assert left == 0

    await eventually(forgotten)
