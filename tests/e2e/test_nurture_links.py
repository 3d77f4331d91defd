"""Nurture's links cannot be forged: the once-published default secret signs nothing, and a
click link leads only to a target that was in its message (no open redirect)."""

import base64
import hashlib
import hmac
import re
import uuid

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.nurture_fixtures import (
    click_links,
    cold_lead,
    create_sequence,
    enrollments_of,
    html_of,
    mail_to,
    new_lead,
)
from tests.support import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

PUBLISHED_DEFAULT = "dev-only-link-secret-change-me"


def _forged(purpose: str, message_id: uuid.UUID) -> str:
    """A token as nurture made them, signed with the secret that used to be the default."""
    mac = hmac.new(PUBLISHED_DEFAULT.encode(), f"{purpose}\x1f{message_id}".encode(),
                   hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(message_id.bytes + mac).rstrip(b"=").decode()


def _old_click_signature(message_id: uuid.UUID, url: str) -> str:
    mac = hmac.new(PUBLISHED_DEFAULT.encode(), f"click\x1f{message_id}\x1f{url}".encode(),
                   hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


async def test_links_signed_with_the_published_default_secret_are_refused(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    key, campaign = await create_sequence(http, stack, admin_headers, [
        {"kind": "send_email", "template": "welcome"}, {"kind": "wait", "seconds": 600},
        {"kind": "send_email", "template": "case-study"}])
    body = cold_lead(campaign)
    lead_id = await new_lead(http, stack, admin_headers, body)

    async def mailed() -> None:
        assert len(mail_to(stack, body["email"], key)) == 1
    await eventually(mailed)
    welcome = mail_to(stack, body["email"], key)[0]
    message_id = uuid.UUID(str(welcome["X-LeadLoop-Message-Id"]))
    nurture = stack.url("nurture")

    # The probe's open redirect: an arbitrary target signed with the published default.
    evil = "https://evil.test/x"
    old = await http.get(f"{nurture}/c", params={
        "m": str(message_id), "u": evil, "s": _old_click_signature(message_id, evil)})
    assert old.status_code == 410 and "location" not in old.headers
    # Forged unsubscribe and open for a real message: nothing happens.
    unsubscribe = await http.post(f"{nurture}/u/{_forged('unsubscribe', message_id)}")
    assert unsubscribe.status_code == 404
    pixel = await http.get(f"{nurture}/o/{_forged('open', message_id)}.gif")
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    assert (await enrollments_of(http, stack, admin_headers, lead_id))[key]["status"] == "active"

    # The real link leads where the email said, and nowhere else.
    links = click_links(welcome)
    assert links and not re.search(r"[?&]u=", html_of(welcome))
    click = await http.get(links[0], follow_redirects=False)
    assert click.status_code == 302
    assert click.headers["location"] == "https://leadloop.example/guides/getting-started"
    changed = await http.get(links[0][:-3] + ("AAA" if not links[0].endswith("AAA") else "BBB"),
                             follow_redirects=False)
    assert changed.status_code == 404 and "location" not in changed.headers
