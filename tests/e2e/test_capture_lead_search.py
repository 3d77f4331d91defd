"""Lead search and sync in capture: filters a person or a CRM sync job uses, one cursor
envelope, every lead exactly once when paging."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead, qualified_lead

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
