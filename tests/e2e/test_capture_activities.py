"""Activity tracking from server-side sources: each activity becomes lead.activity."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.capture_fixtures import contact_form, create_form, lead_id_of, unique_email
from tests.support import TopicReader, every_item

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

KINDS = ["page_view", "content_downloaded", "webinar_registered", "webinar_attended",
         "email_opened", "email_clicked", "pricing_viewed", "demo_requested", "call_requested"]


async def test_server_side_activities_become_lead_activity_events_in_the_timeline(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")
    email = unique_email("act")
    created = await http.post(f"{base}/v1/leads", headers=admin_headers, json={"email": email})
    lead_id = created.json()["lead_id"]
    when = datetime.now(UTC) - timedelta(minutes=5)
    for i, kind in enumerate(KINDS):
        r = await http.post(f"{base}/v1/activities", headers=admin_headers, json={
            "kind": kind, "email": email.upper() if i % 2 else None,
            "lead_id": None if i % 2 else lead_id,
            "occurred_at": (when + timedelta(seconds=i)).isoformat(),
            "url": f"https://www.example.com/{kind}", "seconds_on_page": 42,
            "source": {"channel": "webinar_tool", "utm_source": "zoom"}})
        assert r.status_code == 202, r.text
        assert r.json()["lead_id"] == lead_id
    custom = await http.post(f"{base}/v1/activities", headers=admin_headers, json={
        "kind": "custom", "name": "trial_started", "lead_id": lead_id,
        "properties": {"plan": "pro"}})
    assert custom.status_code == 202, custom.text

    async with TopicReader(stack.bootstrap_servers, "leadloop.capture") as reader:
        events = await reader.wait_for(lambda evs: len([
            e for e in evs if e.subject == lead_id
            and e.type == "leadloop.lead.activity.v1"]) == len(KINDS) + 1)
    by_kind = {e.data["kind"]: e.data for e in events
               if e.subject == lead_id and e.type == "leadloop.lead.activity.v1"}
    assert set(by_kind) == {*KINDS, "custom"}
    assert by_kind["page_view"]["properties"]["seconds_on_page"] == 42
    assert by_kind["webinar_attended"]["source"]["utm_source"] == "zoom"
    assert by_kind["custom"]["properties"] == {"plan": "pro", "name": "trial_started"}

    timeline = (await http.get(f"{base}/v1/leads/{lead_id}/activities",
                               headers=admin_headers)).json()["items"]
    assert timeline[0]["kind"] == "custom" and timeline[-1]["kind"] == "page_view"


async def test_anonymous_visitor_activity_is_attached_once_the_visitor_submits_a_form(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")
    visitor = f"vis-{uuid.uuid4()}"
    for url in ("https://www.example.com/pricing", "https://www.example.com/docs"):
        r = await http.post(f"{base}/v1/activities", headers=admin_headers, json={
            "kind": "pricing_viewed" if "pricing" in url else "page_view",
            "visitor_id": visitor, "url": url})
        assert r.status_code == 202 and r.json()["lead_id"] is None, r.text
    form = await create_form(http, stack, admin_headers, contact_form())
    email = unique_email("anon")
    submitted = await http.post(f"{base}/v1/forms/{form['id']}/submissions",
                                headers={"X-Form-Key": form["public_key"]},
                                json={"email": email, "_visitor_id": visitor})
    assert submitted.status_code == 201, submitted.text
    lead_id = await lead_id_of(http, stack, admin_headers, email)
    later = await http.post(f"{base}/v1/activities", headers=admin_headers, json={
        "kind": "demo_requested", "visitor_id": visitor})
    assert later.json()["lead_id"] == lead_id

    async with TopicReader(stack.bootstrap_servers, "leadloop.capture") as reader:
        events = await reader.wait_for(lambda evs: {
            e.data.get("kind") for e in evs if e.subject == lead_id} >= {
            "pricing_viewed", "page_view", "form_submitted", "demo_requested"})
    assert len({e.id for e in events if e.subject == lead_id
                and e.type == "leadloop.lead.activity.v1"}) == 4


async def test_bad_activities_are_refused_naming_the_field(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")
    cases = [
        ({"kind": "teleported", "visitor_id": "visitor-1"}, 422, "kind"),
        ({"kind": "page_view"}, 422, "body"),
        ({"kind": "custom", "visitor_id": "visitor-1"}, 422, "body"),
        ({"kind": "page_view", "email": "nobody@nowhere-at-all.example"}, 404, None),
        ({"kind": "page_view", "lead_id": str(uuid.uuid4())}, 404, None),
        ({"kind": "page_view", "email": "bad@@mail"}, 422, "email"),
    ]
    for body, expected, field in cases:
        r = await http.post(f"{base}/v1/activities", headers=admin_headers, json=body)
        assert r.status_code == expected, (body, r.text)
        if field:
            assert field in {e["field"] for e in r.json()["errors"]}, (body, r.text)
    unauth = await http.post(f"{base}/v1/activities", json=KINDS and {"kind": "page_view"})
    assert unauth.status_code == 401


async def test_every_post_that_creates_something_honours_idempotency_key(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")

    async def twice(url: str, **kwargs: Any) -> httpx.Response:
        """POST the same request twice with one key: the retry replays the first answer."""
        headers = {**admin_headers, **kwargs.pop("headers", {}),
                   "Idempotency-Key": str(uuid.uuid4())}
        first = await http.post(url, headers=headers, **kwargs)
        assert first.status_code < 300, first.text
        again = await http.post(url, headers=headers, **kwargs)
        assert (again.status_code, again.json()) == (first.status_code, first.json()), url
        assert again.headers.get("Idempotent-Replayed") == "true", url
        return first

    email = unique_email("idem")
    lead_id = (await http.post(f"{base}/v1/leads", headers=admin_headers,
                               json={"email": email})).json()["lead_id"]
    await twice(f"{base}/v1/activities", json={"kind": "webinar_attended", "lead_id": lead_id})
    await twice(f"{base}/v1/activities", json=[
        {"kind": "email_opened", "lead_id": lead_id},
        {"kind": "email_clicked", "email": email}])
    timeline = (await http.get(f"{base}/v1/leads/{lead_id}/activities",
                               headers=admin_headers)).json()["items"]
    assert sorted(a["kind"] for a in timeline) == [
        "email_clicked", "email_opened", "webinar_attended"], "a retry was recorded twice"

    config = contact_form()
    form = (await twice(f"{base}/v1/forms", json=config)).json()
    forms = await every_item(http, f"{base}/v1/forms", admin_headers)
    assert [f["name"] for f in forms].count(config["name"]) == 1
    rotated = (await twice(f"{base}/v1/forms/{form['id']}/key")).json()
    visitor = f"v-{uuid.uuid4().hex}"
    beacon = await twice(f"{base}/v1/forms/{form['id']}/activities",
                         headers={"X-Form-Key": rotated["public_key"]},
                         json={"_visitor_id": visitor, "url": "https://www.example.com/"})
    assert beacon.json()["lead_id"] is None

    duplicate_id = (await http.post(f"{base}/v1/leads", headers=admin_headers,
                                    json={"email": unique_email("dup")})).json()["lead_id"]
    merge = (await twice(f"{base}/v1/leads/{lead_id}/merges",
                         json={"duplicate_lead_id": duplicate_id})).json()
    await twice(f"{base}/v1/merges/{merge['merge_id']}/undo")

    used_twice = str(uuid.uuid4())
    reused = await http.post(f"{base}/v1/activities", json={"kind": "page_view",
                                                             "lead_id": lead_id},
                             headers={**admin_headers, "Idempotency-Key": used_twice})
    assert reused.status_code == 202
    other = await http.post(f"{base}/v1/activities", json={"kind": "pricing_viewed",
                                                            "lead_id": lead_id},
                            headers={**admin_headers, "Idempotency-Key": used_twice})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
