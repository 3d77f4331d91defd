"""Nurture end-to-end helpers: second-scale sequences for one test's leads, and the mail sink."""

import re
import uuid
from email.message import EmailMessage
from typing import Any

import httpx

from leadloop_devstack.stack import Stack
from tests.e2e.conftest import post_lead

NO_LIMITS = {"max_per_day": 100, "max_per_week": 100, "quiet_hours": None}


async def create_sequence(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                          steps: list[dict[str, Any]], **settings: Any) -> tuple[str, str]:
    """A live sequence for new leads of a campaign of its own; returns (key, campaign)."""
    tag = uuid.uuid4().hex[:10]
    key, campaign = f"e2e-{tag}", f"nurture-{tag}"
    response = await http.post(f"{stack.url('nurture')}/v1/sequences", headers=headers, json={
        "key": key, "entry_rule": "new_unqualified_lead", "steps": steps,
        "segment": {"utm_campaign": [campaign]}, "guards": NO_LIMITS, **settings})
    assert response.status_code == 201, response.text
    return key, campaign


def cold_lead(campaign: str, **extra: Any) -> dict[str, Any]:
    """A lead that wants our email but is not sales-ready (business email, no title)."""
    suffix = uuid.uuid4().hex[:10]
    return {"email": f"sam.{suffix}@widgets-{suffix}.com", "first_name": "Sam",
            "company": f"Widgets {suffix}",
            "consent": {"email_marketing": True, "text": "Send me news", "version": "2026-01"},
            "source": {"channel": "form", "utm_campaign": campaign}, **extra}


async def new_lead(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                   body: dict[str, Any]) -> str:
    """Capture a lead; returns its id."""
    return await post_lead(http, stack, headers, body)


async def enrollments_of(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                         lead_id: str) -> dict[str, dict[str, Any]]:
    """The lead's enrollments by sequence key, as nurture's admin API lists them."""
    r = await http.get(f"{stack.url('nurture')}/v1/leads/{lead_id}/enrollments",
                       headers=headers)
    assert r.status_code == 200, r.text
    return {e["sequence_key"]: e for e in r.json()["enrollments"]}


def mail_to(stack: Stack, address: str, sequence_key: str) -> list[EmailMessage]:
    """What the SMTP sink received for `address` from one sequence, oldest first."""
    return [m for m in stack.received_mail()
            if m["To"] == address.lower()
            and str(m["X-LeadLoop-Sequence"]).startswith(f"{sequence_key}/")]


def steps_of(messages: list[EmailMessage]) -> list[int]:
    """The sequence steps the messages were sent for."""
    return [int(str(m["X-LeadLoop-Sequence"]).rsplit("/", 1)[1]) for m in messages]


def html_of(message: EmailMessage) -> str:
    """The HTML part of a received email."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "no HTML part"
    return str(part.get_content())


def click_links(message: EmailMessage) -> list[str]:
    """The tracked links in a received email (the click redirect URLs)."""
    return re.findall(r'href="([^"]+/c/[^"]+)"', html_of(message))
