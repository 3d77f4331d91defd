"""Forms for capture's end-to-end tests: created through the admin API, as a marketer would."""

import uuid
from typing import Any

import httpx

from leadloop_devstack.stack import Stack


def contact_form(**overrides: Any) -> dict[str, Any]:
    """A typical contact form: email, names, company, phone, a custom field and consent."""
    config: dict[str, Any] = {
        "name": f"Contact us {uuid.uuid4().hex[:6]}",
        "fields": [
            {"name": "email", "type": "email", "required": True},
            {"name": "first_name", "type": "text"},
            {"name": "last_name", "type": "text"},
            {"name": "company", "type": "text"},
            {"name": "country", "type": "country"},
            {"name": "phone", "type": "phone"},
            {"name": "budget", "type": "select", "options": ["<10k", "10k-50k", ">50k"],
             "maps_to": "properties.budget"},
            {"name": "newsletter", "type": "consent"},
        ],
        "consent_text": "Send me product news", "consent_version": "2026-11",
        "redirect_url": "https://www.example.com/thanks",
        "allowed_origins": ["https://www.example.com"],
        "spam": {"honeypot_field": "website_url_hp", "min_fill_seconds": 0},
    }
    config.update(overrides)
    return config


async def create_form(http: httpx.AsyncClient, stack: Stack, admin_headers: dict[str, str],
                      config: dict[str, Any]) -> dict[str, Any]:
    """Create a form; returns the stored form with its public key."""
    response = await http.post(f"{stack.url('capture')}/v1/forms", json=config,
                               headers=admin_headers)
    assert response.status_code == 201, response.text
    form: dict[str, Any] = response.json()
    assert form["public_key"].startswith("pfk_")
    return form


async def lead_id_of(http: httpx.AsyncClient, stack: Stack, admin_headers: dict[str, str],
                    email: str) -> str:
    """The id of the lead with this email (a public form's answer never names it)."""
    r = await http.get(f"{stack.url('capture')}/v1/leads", params={"email": email},
                       headers=admin_headers)
    assert r.status_code == 200 and len(r.json()["items"]) == 1, r.text
    return str(r.json()["items"][0]["lead_id"])


def unique_email(tag: str = "lead") -> str:
    """An email no other test uses."""
    return f"{tag}.{uuid.uuid4().hex[:12]}@Example-Corp.com"
