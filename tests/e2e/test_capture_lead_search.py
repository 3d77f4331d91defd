"""Lead search and sync in capture: filters a person or a CRM sync job uses, one cursor
envelope, every lead exactly once when paging."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead
from tests.e2e.handoff_fixtures import assignment_of, sales_team
from tests.support import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def test_leads_are_found_by_text_campaign_country_and_paged_without_loss(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")
    tag = uuid.uuid4().hex[:8]
    started = datetime.now(UTC) - timedelta(seconds=1)
    made = []
    for n, country in enumerate(("DE", "DE", "FR")):
        lead = {**qualified_lead(), "company": f"Zebra {tag} {n} GmbH", "country": country,
                "source": {"channel": "form", "utm_campaign": f"spring-{tag}"}}
        made.append(await post_lead(http, stack, admin_headers, lead))

    async def search(**params: object) -> dict[str, object]:
        response = await http.get(f"{base}/v1/leads", params=params, headers=admin_headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    found = await search(q=f"zebra {tag}")  # case-insensitive, in the company
    assert sorted(lead["lead_id"] for lead in found["items"]) == sorted(made)  # type: ignore[attr-defined,index]
    german = await search(campaign=f"spring-{tag}", country="de")
    assert len(german["items"]) == 2  # type: ignore[arg-type]
    assert (await search(q=tag, source="import"))["items"] == []
    assert (await search(q=tag, created_from=started.isoformat(),
                         created_to=(started + timedelta(hours=1)).isoformat()))["items"]

    # A sync job: everything changed since its last run, two at a time, each lead once.
    seen: list[str] = []
    cursor = None
    while True:
        page = await search(updated_since=started.isoformat(), q=tag, limit=2,
                            **({"cursor": cursor} if cursor else {}))
        seen += [lead["lead_id"] for lead in page["items"]]  # type: ignore[attr-defined]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))

    for params, field in (({"created_from": "2026-01-02T00:00:00Z",
                            "created_to": "2026-01-01T00:00:00Z"}, "created_to"),
                          ({"updated_since": "2026-01-01T00:00:00"}, "updated_since"),
                          ({"cursor": "Zm9v"}, "cursor"), ({"limit": 501}, "limit")):
        refused = await http.get(f"{base}/v1/leads", params=params, headers=admin_headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field


async def test_leads_are_found_by_their_owner_and_qualification_state(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base, handoff = stack.url("capture"), stack.url("handoff")
    tag = uuid.uuid4().hex[:8]
    _team, campaign, ada, ben, _mia = await sales_team(http, stack, admin_headers)
    leads = [await post_lead(http, stack, admin_headers, {
        **qualified_lead(), "company": f"Owl {tag} {n}",
        "source": {"channel": "form", "utm_campaign": campaign}}) for n in range(2)]
    held = {(await assignment_of(http, stack, admin_headers, lead))["rep"]["id"]: lead
            for lead in leads}
    assert set(held) == {ada, ben}  # round-robin: one each

    async def found(**params: str) -> list[str]:
        response = await http.get(f"{base}/v1/leads", headers=admin_headers,
                                  params={"q": f"owl {tag}", **params})
        assert response.status_code == 200, response.text
        return sorted(lead["lead_id"] for lead in response.json()["items"])

    async def mqls_held_by_each_rep() -> None:
        assert await found(qualification="mql") == sorted(leads)
        assert await found(owner=ada) == [held[ada]]
        assert await found(owner=ben, qualification="mql") == [held[ben]]
    await eventually(mqls_held_by_each_rep)

    # Ada accepts hers (an SQL now); Ben rejects his (back to marketing, nobody's).
    for rep, action, body in ((ada, "accept", None), (ben, "reject", {"reason_code": "not_a_fit"})):
        assignment = await assignment_of(http, stack, admin_headers, held[rep])
        done = await http.post(f"{handoff}/v1/assignments/{assignment['id']}/{action}",
                               headers=admin_headers, json=body)
        assert done.status_code == 200, done.text

    async def accepted_and_rejected() -> None:
        assert await found(owner=ada, qualification="sql") == [held[ada]]
        assert await found(qualification="rejected") == [held[ben]]
        assert await found(owner=ben) == []
        assert await found(qualification="mql") == []
    await eventually(accepted_and_rejected)

    for params, field in (({"qualification": "hot"}, "qualification"),
                          ({"owner": "ada"}, "owner")):
        refused = await http.get(f"{base}/v1/leads", params=params, headers=admin_headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field
