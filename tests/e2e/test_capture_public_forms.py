"""A public form key is anyone's: its answers never tell whether an address is a lead, its
posts never rewrite a lead, and the consent it gives a known address counts only once the
person confirms it from a mail (double opt-in)."""

import re
import uuid
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.capture_fixtures import contact_form, create_form, unique_email
from tests.support import TopicReader, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
CONSENT_CHANGED = "leadloop.lead.consent_changed.v1"
# Headers that differ between any two answers whatever they say.
PER_ANSWER_HEADERS = {"date", "content-length", "x-request-id", "traceparent"}


async def _stored(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                  lead_id: str) -> dict[str, Any]:
    r = await http.get(f"{stack.url('capture')}/v1/leads/{lead_id}", headers=headers)
    assert r.status_code == 200, r.text
    lead: dict[str, Any] = r.json()
    return lead


async def _admin_lead(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                      email: str) -> str:
    r = await http.post(f"{stack.url('capture')}/v1/leads", headers=headers, json={
        "email": email, "first_name": "Admin", "company": "Original Corp",
        "consent": {"email_marketing": False, "lawful_basis": "consent"}})
    assert r.status_code == 201, r.text
    return str(r.json()["lead_id"])


def _shape(response: httpx.Response) -> tuple[int, list[str], Any]:
    """What an answer tells: status, header names and the body with its random ids blanked."""
    names = sorted(n for n in response.headers if n not in PER_ANSWER_HEADERS)
    body: Any = response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        body = {k: "<id>" if k == "submission_id" else v for k, v in response.json().items()}
    return response.status_code, names, body


def _posts(form: dict[str, Any], email: str) -> list[dict[str, Any]]:
    """The same submission in every shape a public caller can send it."""
    key = form["public_key"]
    fields = {"email": email, "first_name": "Mallory", "company": "Evil Corp",
              "last_name": "Filled", "newsletter": "on"}
    return [
        {"headers": {"X-Form-Key": key}, "json": fields},
        {"headers": {"X-Form-Key": key}, "data": fields},
        {"headers": {"X-Form-Key": key}, "files": {k: (None, v) for k, v in fields.items()}},
        {"headers": BROWSER, "data": {**fields, "_form_key": key}},  # plain HTML form
        {"headers": {}, "json": {**fields, "_form_key": key}},  # the embed script's fetch
    ]


async def test_public_answers_are_the_same_for_known_and_unknown_addresses(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    url = f"{stack.url('capture')}/v1/forms/{form['id']}/submissions"
    known = unique_email("known")
    await _admin_lead(http, stack, admin_headers, known)
    for n, (as_known, as_unknown) in enumerate(zip(_posts(form, known),
                                                   _posts(form, unique_email("new")),
                                                   strict=True)):
        first = await http.post(url, **as_known)
        second = await http.post(url, **as_unknown)
        assert first.status_code in (201, 303), (n, first.text)
        assert _shape(first) == _shape(second), n
        assert "lead_id" not in first.text and "created" not in first.text
        assert "updated" not in first.text and "unchanged" not in first.text


async def test_a_public_post_for_a_known_lead_fills_empty_fields_and_rewrites_nothing(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    email = unique_email("victim")
    lead_id = await _admin_lead(http, stack, admin_headers, email)
    r = await http.post(f"{stack.url('capture')}/v1/forms/{form['id']}/submissions",
                        headers={"X-Form-Key": form["public_key"]},
                        json={"email": email, "first_name": "Mallory", "company": "Evil Corp",
                              "last_name": "Filled", "newsletter": "on"})
    assert r.status_code == 201, r.text

    lead = await _stored(http, stack, admin_headers, lead_id)
    assert lead["profile"]["first_name"] == "Admin"
    assert lead["profile"]["company"] == "Original Corp"
    assert lead["profile"]["last_name"] == "Filled", "an empty field may be filled"
    assert lead["consent"]["email_marketing"] is False, "consent waits for the confirmation"
    timeline = await http.get(f"{stack.url('capture')}/v1/leads/{lead_id}/activities",
                              headers=admin_headers)
    assert [a["kind"] for a in timeline.json()["items"]] == ["form_submitted"]

    # An API client with leads:write is trusted as before: its submission updates the lead.
    trusted = await http.post(f"{stack.url('capture')}/v1/forms/{form['id']}/submissions",
                              headers=admin_headers, json={"email": email, "company": "New Co"})
    assert trusted.status_code == 200 and trusted.json()["lead_id"] == lead_id, trusted.text
    assert trusted.json()["status"] == "updated"
    assert (await _stored(http, stack, admin_headers, lead_id))["profile"]["company"] == "New Co"


def _confirmation_mails(stack: Stack, email: str) -> list[EmailMessage]:
    return [m for m in stack.received_mail() if m["To"] == email.lower()
            and m["Subject"] == "Please confirm your subscription"]


def _link(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    found = re.search(r"https?://\S+/v1/consent-confirmations/\S+", str(part.get_content()))
    assert found, part.get_content()
    return found.group(0)


async def test_consent_for_a_known_address_counts_once_its_owner_confirms_by_mail(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    submissions = f"{stack.url('capture')}/v1/forms/{form['id']}/submissions"
    email = unique_email("optin")
    lead_id = await _admin_lead(http, stack, admin_headers, email)
    for _ in range(3):  # repeated posts send one mail, not one each
        r = await http.post(submissions, headers={"X-Form-Key": form["public_key"]},
                            data={"email": email, "newsletter": "on"})
        assert r.status_code == 201, r.text

    async def mailed() -> EmailMessage:
        found = _confirmation_mails(stack, email)
        assert found
        return found[0]
    message = await eventually(mailed)
    assert (await _stored(http, stack, admin_headers, lead_id))["consent"]["email_marketing"] \
        is False
    link = _link(message)
    token = link.rsplit("/", 1)[1]
    base = link[:-len(token)]
    # Forged and tampered links change nothing.
    assert (await http.get(base + f"{uuid.uuid4().hex}.9999999999.{'0' * 32}")).status_code \
        == 404
    assert (await http.get(base + token[:-1] + ("1" if token[-1] != "1" else "2"))
            ).status_code == 404

    async with TopicReader(stack.bootstrap_servers, "leadloop.capture") as reader:
        first = await http.get(link)
        assert first.status_code == 200 and "confirmed" in first.text, first.text
        again = await http.get(link)
        assert again.status_code == 200, again.text
        # A later change of the same lead marks the end: one partition keeps their order.
        await http.post(f"{stack.url('capture')}/v1/leads", headers=admin_headers,
                        json={"email": email, "job_title": "Marker"})
        events = await reader.wait_for(lambda evs: any(
            e.subject == lead_id and e.type == "leadloop.lead.updated.v1"
            and "job_title" in e.data["changed_fields"] for e in evs))
    granted = [e.data for e in events if e.subject == lead_id and e.type == CONSENT_CHANGED]
    assert [(g["purpose"], g["granted"]) for g in granted] == [("email_marketing", True)]
    assert granted[0]["source"] == f"form:{form['id']}"
    assert granted[0]["version"] == "2026-11"
    lead = await _stored(http, stack, admin_headers, lead_id)
    assert lead["consent"]["email_marketing"] is True
    assert lead["profile"]["first_name"] == "Admin"
    assert len(_confirmation_mails(stack, email)) == 1



async def test_the_tracking_beacon_never_tells_a_visitor_which_lead_it_is(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    base = f"{stack.url('capture')}/v1/forms/{form['id']}"
    key = {"X-Form-Key": form["public_key"]}
    visitor, email = f"v-{uuid.uuid4().hex}", unique_email("visitor")
    await _admin_lead(http, stack, admin_headers, email)
    # Someone types a known address with their own browser id, then reports page views.
    r = await http.post(f"{base}/submissions", headers=key,
                        json={"email": email, "_visitor_id": visitor})
    assert r.status_code == 201, r.text
    beacon = await http.post(f"{base}/activities", headers=key,
                             json={"_visitor_id": visitor, "url": "https://www.example.com/"})
    assert beacon.status_code == 202, beacon.text
    assert beacon.json()["lead_id"] is None
