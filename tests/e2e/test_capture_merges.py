"""Admins merge duplicate leads (history kept) and undo merges."""

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.capture_fixtures import unique_email
from tests.support import TopicReader

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def test_merge_folds_a_duplicate_in_and_undo_separates_them_keeping_later_changes(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")
    main_email, dup_email = unique_email("main"), unique_email("dup")
    main = (await http.post(f"{base}/v1/leads", headers=admin_headers, json={
        "email": main_email, "first_name": "Ann"})).json()["lead_id"]
    dup = (await http.post(f"{base}/v1/leads", headers=admin_headers, json={
        "email": dup_email, "first_name": "Annie", "company": "Acme", "job_title": "CTO",
        "properties": {"team": "ops"}})).json()["lead_id"]
    await http.post(f"{base}/v1/activities", headers=admin_headers, json={
        "kind": "webinar_attended", "lead_id": dup})

    merged = await http.post(f"{base}/v1/leads/{main}/merges", headers=admin_headers,
                             json={"duplicate_lead_id": dup})
    assert merged.status_code == 201, merged.text
    profile = merged.json()["profile"]
    assert (profile["email"], profile["first_name"], profile["company"], profile["job_title"]) \
        == (main_email.lower(), "Ann", "Acme", "CTO")
    assert profile["properties"] == {"team": "ops"}
    timeline = (await http.get(f"{base}/v1/leads/{main}/activities",
                               headers=admin_headers)).json()
    assert [a["kind"] for a in timeline] == ["webinar_attended"]
    by_dup_email = (await http.get(f"{base}/v1/leads", params={"email": dup_email},
                                   headers=admin_headers)).json()["items"]
    assert [lead["lead_id"] for lead in by_dup_email] == [main]
    assert (await http.get(f"{base}/v1/leads/{dup}", headers=admin_headers)
            ).json()["merged_into"] == main
    again = await http.post(f"{base}/v1/leads", headers=admin_headers,
                            json={"email": dup_email, "company": "Acme Corp"})
    assert again.json() == {"lead_id": main, "status": "updated"}
    assert (await http.post(f"{base}/v1/leads/{main}/merges", headers=admin_headers,
                            json={"duplicate_lead_id": dup})).status_code == 409
    assert (await http.post(f"{base}/v1/leads/{main}/merges", headers=admin_headers,
                            json={"duplicate_lead_id": main})).status_code == 422

    undone = await http.post(f"{base}/v1/merges/{merged.json()['merge_id']}/undo",
                             headers=admin_headers)
    assert undone.status_code == 200, undone.text
    restored = undone.json()["profile"]
    assert restored["company"] == "Acme Corp", "a change made after the merge is kept"
    assert restored["job_title"] is None and restored["properties"] == {}
    assert restored["email"] == main_email.lower()
    dup_timeline = (await http.get(f"{base}/v1/leads/{dup}/activities",
                                   headers=admin_headers)).json()
    assert [a["kind"] for a in dup_timeline] == ["webinar_attended"]
    by_dup_email = (await http.get(f"{base}/v1/leads", params={"email": dup_email},
                                   headers=admin_headers)).json()["items"]
    assert [lead["lead_id"] for lead in by_dup_email] == [dup]
    assert (await http.post(f"{base}/v1/merges/{merged.json()['merge_id']}/undo",
                            headers=admin_headers)).status_code == 409

    async with TopicReader(stack.bootstrap_servers, "leadloop.capture") as reader:
        events = await reader.wait_for(lambda evs: {e.type for e in evs if e.subject == main}
                                       >= {"leadloop.lead.merged.v1",
                                           "leadloop.lead.unmerged.v1"})
    merged_event = next(e.data for e in events if e.type == "leadloop.lead.merged.v1"
                        and e.subject == main)
    assert merged_event["merged_lead_id"] == dup
    unmerged = next(e.data for e in events if e.type == "leadloop.lead.unmerged.v1"
                    and e.subject == main)
    assert unmerged["restored_lead_id"] == dup
    assert unmerged["restored_profile"]["email"] == dup_email.lower()
