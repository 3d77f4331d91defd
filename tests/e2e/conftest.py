"""End-to-end helpers: leads shaped like real form posts, reps to receive them."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from playwright.async_api import Browser

from leadloop_devstack.stack import Stack
from tests.support.browser import launch_chromium


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright: one for every page test."""
    async with launch_chromium() as chromium:
        yield chromium


def qualified_lead(tag: str = "") -> dict[str, Any]:
    """A lead the default scoring model qualifies at once (business email, VP, 200 staff)."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "email": f"Jane.{suffix}{tag}@Acme-{suffix}.com",
        "first_name": "Jane", "last_name": "Doe", "company": f"Acme {suffix}",
        "job_title": "VP Marketing", "company_size": 200, "country": "DE",
        "phone": "+49 30 1234567",
        "consent": {"email_marketing": True, "text": "Send me news", "version": "2026-01"},
        "source": {"channel": "form", "utm_source": "linkedin", "utm_campaign": "q4-launch"},
    }


def unqualified_lead() -> dict[str, Any]:
    """A lead the default model does not qualify (free mail, no title)."""
    return {"email": f"jo.{uuid.uuid4().hex[:10]}@gmail.com", "first_name": "Jo",
            "source": {"channel": "form", "utm_source": "google"}}


async def post_lead(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                    body: dict[str, Any]) -> str:
    """Capture a lead over HTTP; returns its id."""
    response = await http.post(f"{stack.url('capture')}/v1/leads", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["lead_id"])


async def active_model(http: httpx.AsyncClient, stack: Stack,
                       headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The scoring model in force: its version and its configuration."""
    scoring = stack.url("scoring")
    listed = (await http.get(f"{scoring}/v1/models", headers=headers,
                             params={"limit": 1})).json()
    active: int = listed["active_version"]
    model = (await http.get(f"{scoring}/v1/models/{active}", headers=headers)).json()
    config: dict[str, Any] = model["config"]
    return active, config


def service_dsn(stack: Stack, service: str) -> str:
    """The service's database as asyncpg takes it, for tests that look behind the API."""
    return stack.settings.database_url_for(service).replace("postgresql+asyncpg://",
                                                            "postgresql://", 1)


async def funnel_erased(stack: Stack, lead_id: str) -> bool | None:
    """Outcomes' funnel row of the lead: whether it is erased (None when there is none yet)."""
    conn = await asyncpg.connect(service_dsn(stack, "outcomes"))
    try:
        erased: bool | None = await conn.fetchval(
            "SELECT erased FROM funnel_leads WHERE lead_id = $1", uuid.UUID(lead_id))
    finally:
        await conn.close()
    return erased


@pytest_asyncio.fixture(scope="session")
async def reps(stack: Stack, admin_headers: dict[str, str]) -> list[dict[str, Any]]:
    """Two active reps in the default team, roomy enough for every test's leads."""
    created = []
    async with httpx.AsyncClient(timeout=10) as http:
        for name in ("Ann Seller", "Bob Closer"):
            response = await http.post(
                f"{stack.url('handoff')}/v1/reps", headers=admin_headers,
                json={"name": name, "email": f"{name.split()[0].lower()}@sales.example",
                      "capacity": 10_000},
            )
            assert response.status_code == 201, response.text
            created.append(response.json())
    return created
