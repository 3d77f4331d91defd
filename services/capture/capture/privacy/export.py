"""The GDPR export gathers every service's data about the person, over HTTP.

Why HTTP and not events or a shared read model: each service is the only one that knows what
it holds (scoring's reasons, nurture's messages, opens and clicks, handoff's assignments and
webhooks, outcomes' deals), and an access request must show exactly that, not a copy built from
events that may lag or leave things out. So every service answers `GET /v1/leads/{id}/export`
for its own database (leadloop.export) and capture, which owns the person's identity, asks
each of them, with the caller's own admin key (the data controller's act on every service; no
internal credential exists that could be stolen from capture). No service imports another:
they share only the HTTP contract. An export is complete or it fails: a service that does not
answer makes it a 503 naming that service, never a silently partial answer.
"""

import asyncio
from typing import Any
from uuid import UUID

import httpx
from fastapi import Request

from capture.config import CaptureSettings
from capture.exceptions import PeersUnavailable


def caller_key_headers(request: Request) -> dict[str, str]:
    """The caller's API key, as it sent it (X-API-Key or a bearer token)."""
    if key := request.headers.get("x-api-key"):
        return {"X-API-Key": key}
    if auth := request.headers.get("authorization"):
        return {"Authorization": auth}
    return {}


async def _one(client: httpx.AsyncClient, service: str, base: str, lead_id: UUID,
               headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"{base.rstrip('/')}/v1/leads/{lead_id}/export",
                                headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"answered {response.status_code}")
    sections: dict[str, Any] = response.json()["sections"]
    return sections


async def gather(settings: CaptureSettings, lead_ids: list[UUID], headers: dict[str, str]
                 ) -> dict[str, dict[str, list[Any]]]:
    """Each other service's sections about these leads (a merged person's ids, rows joined);
    503 naming every service that did not answer."""
    peers = sorted(settings.export_peers.items())
    calls = [(service, base, lead_id) for service, base in peers for lead_id in lead_ids]
    async with httpx.AsyncClient(timeout=settings.export_timeout_s,
                                 follow_redirects=False) as client:
        results = await asyncio.gather(*(_one(client, service, base, lead_id, headers)
                                         for service, base, lead_id in calls),
                                       return_exceptions=True)
    gathered: dict[str, dict[str, list[Any]]] = {service: {} for service, _ in peers}
    failed: dict[str, str] = {}
    for (service, _, _), result in zip(calls, results, strict=True):
        if isinstance(result, BaseException):
            failed.setdefault(service, str(result)[:200] or type(result).__name__)
            continue
        for name, rows in result.items():
            gathered[service].setdefault(name, []).extend(rows)
    if failed:
        raise PeersUnavailable(failed)
    return gathered
