"""Concurrent writes to capture share transactions, yet each request gets what it would get
alone: one lead per email, its own status, its own errors; activities arrive in arrays."""

import asyncio
import uuid

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.capture_fixtures import unique_email
from tests.support import TopicReader

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def test_concurrent_posts_of_one_email_make_one_lead_and_each_gets_its_status(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    url = f"{stack.url('capture')}/v1/leads"
    email = unique_email("together")
    others = [unique_email("other") for _ in range(10)]
    answers = await asyncio.gather(
        *(http.post(url, headers=admin_headers, json={"email": email.upper() if i % 2 else email,
                                                      "properties": {"n": i}})
          for i in range(10)),
        *(http.post(url, headers=admin_headers, json={"email": e}) for e in others),
        http.post(url, headers=admin_headers, json={"email": "not an email"}))
    same, rest, bad = answers[:10], answers[10:20], answers[20]
    assert sorted(r.json()["status"] for r in same) == ["created"] + ["updated"] * 9
    assert len({r.json()["lead_id"] for r in same}) == 1
    assert [r.status_code for r in same].count(201) == 1
    assert all(r.status_code == 201 and r.json()["status"] == "created" for r in rest)
    assert len({r.json()["lead_id"] for r in rest}) == 10
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"

    lead_id = same[0].json()["lead_id"]
    async with TopicReader(stack.bootstrap_servers, "leadloop.capture") as reader:
        events = await reader.wait_for(lambda evs: len([
            e for e in evs if e.subject == lead_id]) >= 10)
    kinds = [e.type for e in events if e.subject == lead_id]
    assert kinds == ["leadloop.lead.created.v1"] + ["leadloop.lead.updated.v1"] * 9


async def test_an_array_of_activities_keeps_the_good_items_and_names_each_bad_one(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")
    created = await http.post(f"{base}/v1/leads", headers=admin_headers,
                              json={"email": unique_email("arr")})
    lead_id = created.json()["lead_id"]
    good = {"id": str(uuid.uuid4()), "kind": "page_view", "lead_id": lead_id,
            "url": "https://www.example.com/pricing"}
    array = [good,
             {"kind": "teleported", "lead_id": lead_id},
             {"kind": "page_view", "email": "nobody@nowhere-at-all.example"},
             {"id": str(uuid.uuid4()), "kind": "pricing_viewed", "lead_id": lead_id}]
    first = await http.post(f"{base}/v1/activities", headers=admin_headers, json=array)
    assert first.status_code == 207, first.text
    body = first.json()
    assert [i["index"] for i in body["items"]] == [0, 3]
    assert body["items"][0]["activity_id"] == good["id"]
    assert all(i["lead_id"] == lead_id for i in body["items"])
    assert {(e["index"], e["field"]) for e in body["errors"]} == {(1, "1.kind"), (2, "2.email")}

    again = await http.post(f"{base}/v1/activities", headers=admin_headers, json=array)
    assert again.json()["items"] == body["items"], "a retry records nothing twice"
    timeline = (await http.get(f"{base}/v1/leads/{lead_id}/activities",
                               headers=admin_headers)).json()["items"]
    assert sorted(a["kind"] for a in timeline) == ["page_view", "pricing_viewed"]

    refused = await http.post(f"{base}/v1/activities", headers=admin_headers,
                              json=[{"kind": "page_view"}])
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "0"
    too_many = await http.post(f"{base}/v1/activities", headers=admin_headers,
                               json=[good] * 1001)
    assert too_many.status_code == 422
    empty = await http.post(f"{base}/v1/activities", headers=admin_headers, json=[])
    assert empty.status_code == 422
