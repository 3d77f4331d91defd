"""Digest recipients per team through the API, and a digest sent now, against the running
stack: with nobody configured it says so; with a marketing and a sales recipient both get the
mail in the SMTP sink."""

import uuid

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.support import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def test_recipients_per_team_get_the_digest_sent_now(
        stack: Stack, admin_headers: dict[str, str], scoped_keys: dict[str, str],
        http: httpx.AsyncClient) -> None:
    base = f"{stack.url('outcomes')}/v1"
    tag = uuid.uuid4().hex[:8]
    marketing, sales = f"cmo.{tag}@acme.example", f"cro.{tag}@acme.example"
    listed = (await http.get(f"{base}/digest-recipients", headers=admin_headers)).json()
    assert listed == {"items": [], "next_cursor": None}  # the test stack configures nobody

    nobody = await http.post(f"{base}/digests/send-now", headers=admin_headers)
    assert nobody.status_code == 201, nobody.text
    assert nobody.json()["status"] == "no_recipients"
    assert "/v1/digest-recipients" in nobody.json()["last_error"]

    try:
        for team, email in (("marketing", marketing), ("sales", sales.upper())):
            added = await http.post(f"{base}/digest-recipients", headers=admin_headers,
                                    json={"team": team, "email": email})
            assert added.status_code == 201, added.text
        again = await http.post(f"{base}/digest-recipients", headers=admin_headers,
                                json={"team": "sales", "email": sales})
        assert again.status_code == 200 and again.json()["email"] == sales
        for bad, field in (({"team": "sales", "email": "not-an-address"}, "email"),
                           ({"team": "finance", "email": sales}, "team")):
            refused = await http.post(f"{base}/digest-recipients", headers=admin_headers,
                                      json=bad)
            assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field
        assert (await http.post(f"{base}/digest-recipients", json={"team": "sales", "email": sales},
                                headers={"X-API-Key": scoped_keys["reports:read"]})
                ).status_code == 403

        first = (await http.get(f"{base}/digest-recipients", params={"limit": 1},
                                headers=admin_headers)).json()
        second = (await http.get(f"{base}/digest-recipients",
                                 params={"limit": 1, "cursor": first["next_cursor"]},
                                 headers=admin_headers)).json()
        assert [(r["team"], r["email"]) for r in first["items"] + second["items"]] == \
            [("marketing", marketing), ("sales", sales)]
        assert second["next_cursor"] is None
        only_sales = (await http.get(f"{base}/digest-recipients", params={"team": "sales"},
                                     headers=admin_headers)).json()
        assert [r["email"] for r in only_sales["items"]] == [sales]

        sent = await http.post(f"{base}/digests/send-now", headers=admin_headers)
        assert sent.status_code == 201, sent.text
        body = sent.json()
        assert body["status"] == "sent" and body["delivered"] == 2 and body["pending"] == 0
        assert body["digest"]["period"] == body["period"]

        async def both_mailed() -> None:
            got = {address for message in stack.received_mail()
                   for address in (message["To"] or "").split(", ")
                   if body["period"] in (message["Subject"] or "")}
            assert {marketing, sales} <= got, got
        await eventually(both_mailed)
        shown = (await http.get(f"{base}/digests/{body['period']}",
                                headers=admin_headers)).json()
        assert shown["status"] == "sent" and shown["delivered"] == 2
    finally:
        for team, email in (("marketing", marketing), ("sales", sales)):
            await http.delete(f"{base}/digest-recipients/{team}/{email}", headers=admin_headers)
    gone = await http.delete(f"{base}/digest-recipients/sales/{sales}", headers=admin_headers)
    assert gone.status_code == 404
    listed = (await http.get(f"{base}/digest-recipients", headers=admin_headers)).json()
    assert listed["items"] == []
