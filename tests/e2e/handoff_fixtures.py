"""Handoff end-to-end helpers: a fresh team with its routing rule, a lead's assignment, a sales
tool receiving webhooks."""

import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import httpx
import pytest

from leadloop.auth import hash_key
from leadloop_devstack.stack import Stack
from tests.support import eventually, local_webhook_receiver


async def team_with_rule(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                         campaign: str, sla_s: float) -> tuple[str, list[str], str]:
    """A fresh team of two reps (Ada, then Ben) and a rule sending leads of `campaign` to it;
    (team, rep ids, rule id)."""
    team = f"t-{uuid.uuid4().hex[:8]}"
    rep_ids = []
    for name in ("Ada", "Ben"):
        response = await http.post(f"{stack.url('handoff')}/v1/reps", headers=headers, json={
            "name": f"{name} {team}", "email": f"{name.lower()}.{team}@sales.example",
            "team": team, "capacity": 50})
        assert response.status_code == 201, response.text
        rep_ids.append(response.json()["id"])
    response = await http.post(f"{stack.url('handoff')}/v1/routing-rules", headers=headers, json={
        "name": f"campaign-{campaign}", "position": 10, "team": team, "accept_sla_s": sla_s,
        "conditions": [{"field": "source.utm_campaign", "op": "eq", "value": campaign},
                       {"field": "score", "op": "gte", "value": 1}]})
    assert response.status_code == 201, response.text
    return team, rep_ids, response.json()["id"]


async def sales_team(http: httpx.AsyncClient, stack: Stack, admin: dict[str, str]
                      ) -> tuple[str, str, str, str, str]:
    """A fresh team (Ada, Ben) reporting to Mia, and a campaign routed to it:
    (team, campaign, ada, ben, mia)."""
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    team, (ada, ben), _rule = await team_with_rule(http, stack, admin, campaign, 600)
    base = stack.url("handoff")
    manager = await http.post(f"{base}/v1/reps", headers=admin, json={
        "name": f"Mia {team}", "email": f"mia.{team}@sales.example", "team": f"{team}-mgmt",
        "capacity": 5})
    assert manager.status_code == 201, manager.text
    mia = manager.json()["id"]
    for rep_id in (ada, ben):
        patched = await http.patch(f"{base}/v1/reps/{rep_id}", headers=admin,
                                   json={"manager_id": mia})
        assert patched.status_code == 200, patched.text
    return team, campaign, ada, ben, mia


async def rep_key(http: httpx.AsyncClient, stack: Stack, admin: dict[str, str], rep_id: str,
                  name: str = "laptop") -> dict[str, str]:
    """A key minted for the rep: {"X-API-Key": key, "key_id": its id}."""
    minted = await http.post(f"{stack.url('handoff')}/v1/reps/{rep_id}/keys", headers=admin,
                             json={"name": name})
    assert minted.status_code == 201, minted.text
    body = minted.json()
    assert body["sha256"] == hash_key(body["key"])
    return {"X-API-Key": body["key"], "key_id": body["id"]}


async def assignment_of(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                        lead_id: str, timeout_s: float = 30) -> dict[str, Any]:
    """The lead's current assignment, once it has been handed off."""
    async def routed() -> dict[str, Any]:
        response = await http.get(f"{stack.url('handoff')}/v1/leads/{lead_id}/assignment",
                                  headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())
    return await eventually(routed, timeout_s)


class SalesTool(BaseHTTPRequestHandler):
    """A webhook receiver that answers 200 and keeps (headers, body) of every POST."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sales_tool() -> Iterator[tuple[str, type[SalesTool]]]:
    """A sales tool's webhook endpoint on a free local port: (url, handler class)."""
    handler = type("OneSalesTool", (SalesTool,), {"received": []})
    with local_webhook_receiver(handler) as url:
        yield url, handler
