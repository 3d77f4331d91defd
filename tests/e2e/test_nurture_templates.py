"""Templates marketers write, end to end: created through the API, refused with field and line
when they name an unknown variable, previewed for a real lead, and used by a sequence whose
email, SMS and direct-mail steps each deliver the rendered text: the email into the SMTP sink,
the SMS and the letter to channel adapters whose Standard Webhooks signatures are verified with
the `standardwebhooks` library."""

import base64
import secrets
import uuid
from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.nurture_fixtures import (
    NO_LIMITS,
    cold_lead,
    create_sequence,
    mail_to,
    new_lead,
)
from tests.support import eventually
from tests.support.nurture_receivers import ChannelAdapter

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


def _whsec() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def _template(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                    body: dict[str, Any]) -> dict[str, Any]:
    r = await http.post(f"{stack.url('nurture')}/v1/templates", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_a_template_with_an_unknown_variable_is_refused_naming_field_and_line(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    key = f"e2e-bad-{uuid.uuid4().hex[:8]}"
    r = await http.post(f"{stack.url('nurture')}/v1/templates", headers=admin_headers, json={
        "key": key, "channel": "email", "subject": "Hi {{ lead.first_name }}",
        "html": "<p>Hello</p>\n<p>{{ lead.frist_name }}</p>"})
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "html"
    assert error["reason"].startswith("line 2: unknown variable 'lead.frist_name'")
    missing = await http.get(f"{stack.url('nurture')}/v1/templates/{key}", headers=admin_headers)
    assert missing.status_code == 404


async def test_a_sequence_delivers_each_channel_its_rendered_template(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    nurture, tag = stack.url("nurture"), uuid.uuid4().hex[:8]
    email = await _template(http, stack, admin_headers, {
        "key": f"e2e-mail-{tag}", "channel": "email",
        "subject": "{{ lead.first_name }}, your guide for {{ lead.company }}",
        "html": "<h1>Your guide</h1>\n<p>Hi {{ lead.first_name }},</p>\n"
                "<ul><li>Routing</li><li>SLAs</li></ul>\n"
                "<p><a href=\"{{ track('https://leadloop.example/guide') }}\">Read it</a></p>"})
    assert (email["version"], email["text"]) == (1, None)
    # A second version: the sequence saved after it uses version 2.
    r = await http.put(f"{nurture}/v1/templates/{email['key']}", headers=admin_headers, json={
        "channel": "email", "subject": "{{ lead.first_name }}, the guide for {{ lead.company }}",
        "html": email["html"]})
    assert (r.status_code, r.json()["version"]) == (200, 2), r.text
    sms = await _template(http, stack, admin_headers, {
        "key": f"e2e-sms-{tag}", "channel": "sms",
        "text": "Hi {{ lead.first_name }}, {{ lead.company }} is all set. Reply STOP to opt out"})
    letter = await _template(http, stack, admin_headers, {
        "key": f"e2e-letter-{tag}", "channel": "direct_mail",
        "html": "<p>Dear {{ lead.first_name }},</p><p>A printed guide for "
                "{{ lead.company }} is on its way to {{ lead.postal_address.city }}.</p>"})

    sms_secret, mail_secret = _whsec(), _whsec()
    async with ChannelAdapter(sms_secret) as sms_adapter, \
            ChannelAdapter(mail_secret) as post_adapter:
        key, campaign = f"e2e-channels-{tag}", f"nurture-{tag}"
        r = await http.post(f"{nurture}/v1/sequences", headers=admin_headers, json={
            "key": key, "entry_rule": "new_unqualified_lead",
            "segment": {"utm_campaign": [campaign]}, "guards": NO_LIMITS,
            "webhooks": {"sms": {"url": sms_adapter.url, "secret": sms_secret},
                         "direct_mail": {"url": post_adapter.url, "secret": mail_secret}},
            "steps": [{"kind": "send_email", "template": email["key"]},
                      {"kind": "send", "channel": "sms", "template": sms["key"]},
                      {"kind": "send", "channel": "direct_mail", "template": letter["key"]}]})
        assert r.status_code == 201, r.text
        assert [s["template_version"] for s in r.json()["steps"]] == [2, 1, 1]

        body = cold_lead(campaign, phone="+49 30 1234567", country="DE",
                         postal_address={"street": "Hauptstraße 5", "city": "Berlin",
                                         "postal_code": "10115"})
        lead_id = await new_lead(http, stack, admin_headers, body)

        async def all_three_delivered() -> None:
            assert len(mail_to(stack, body["email"], key)) == 1
            assert len(sms_adapter.received) == 1 and len(post_adapter.received) == 1
        await eventually(all_three_delivered, timeout_s=60)

        # The email: subject and both parts rendered; the text part reads without HTML.
        [mail] = mail_to(stack, body["email"], key)
        assert mail["Subject"] == f"Sam, the guide for {body['company']}"
        text_part = mail.get_body(preferencelist=("plain",))
        assert text_part is not None
        text = str(text_part.get_content()).replace("\r\n", "\n")  # MIME lines end in CRLF
        assert "Your guide\n==========" in text and "- Routing\n- SLAs" in text
        assert f"Read it ({nurture}/c/" in text and "HTML mail reader" not in text

        # The SMS: rendered text, GSM-7 length, signature verified by the library.
        [sms_delivery] = sms_adapter.received
        assert sms_delivery.signature_valid
        sent = sms_delivery.payload
        assert sent["content"]["text"] == \
            f"Hi Sam, {body['company']} is all set. Reply STOP to opt out"
        assert sent["content"]["sms"] == {"encoding": "GSM-7", "segments": 1}
        assert (sent["to"]["phone"], sent["template_version"]) == ("+49301234567", 1)

        # The letter: the rendered HTML (and its text) with the postal address.
        [letter_delivery] = post_adapter.received
        assert letter_delivery.signature_valid
        posted = letter_delivery.payload
        assert posted["to"]["postal_address"] == {
            "street": "Hauptstraße 5", "city": "Berlin", "postal_code": "10115",
            "region": None, "country": "DE"}
        assert "is on its way to Berlin." in posted["content"]["html"]
        assert posted["content"]["text"].startswith("Dear Sam,\n\nA printed guide for")

    # Preview renders the same template for this lead without sending anything.
    r = await http.post(f"{nurture}/v1/templates/{sms['key']}/preview", headers=admin_headers,
                        json={"lead_id": lead_id})
    assert r.status_code == 200, r.text
    assert r.json()["text"] == sent["content"]["text"]
    assert r.json()["sms"]["segments"] == 1
    messages = await http.get(f"{nurture}/v1/leads/{lead_id}/messages", headers=admin_headers)
    assert [(m["channel"], m["status"]) for m in messages.json()["items"]
            if m["sequence_key"] == key] == [
        ("email", "sent"), ("sms", "sent"), ("direct_mail", "sent")]


async def test_a_test_send_mails_the_marketer_and_refuses_an_unsendable_address(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    nurture, tag = stack.url("nurture"), uuid.uuid4().hex[:8]
    email = await _template(http, stack, admin_headers, {
        "key": f"e2e-try-{tag}", "channel": "email", "subject": "Hi {{ lead.first_name }}",
        "html": "<p>Hello {{ lead.first_name }}</p>"})
    me = f"marketer-{tag}@example.com"
    r = await http.post(f"{nurture}/v1/templates/{email['key']}/test-send",
                        headers=admin_headers, json={"to": me})
    assert r.status_code == 202, r.text
    sent = r.json()
    assert sent["to"] == me and sent["subject"].startswith("[Test] Hi ")

    async def arrived() -> None:
        assert [m for m in stack.received_mail() if m["To"] == me]
    await eventually(arrived, timeout_s=30)
    [mail] = [m for m in stack.received_mail() if m["To"] == me]
    assert mail["Subject"] == sent["subject"]
    assert mail["X-LeadLoop-Test"] == f"{email['key']}/v1"

    # Addresses no SMTP server can be asked to deliver to are refused, naming the field: a
    # control character (which one regex engine counts as whitespace and another does not),
    # an angle bracket, a space.
    for bad in ["a\x1eb@example.com", "a<b@example.com", "a b@example.com", "a\x10@example.com"]:
        r = await http.post(f"{nurture}/v1/templates/{email['key']}/test-send",
                            headers=admin_headers, json={"to": bad})
        assert r.status_code == 422, (bad, r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["to"]

    # The mail server's own refusal is about the address too: 422, with its reason.
    r = await http.post(f"{nurture}/v1/templates/{email['key']}/test-send",
                        headers=admin_headers, json={"to": f"gone-{tag}@bounce.invalid"})
    assert r.status_code == 422, r.text
    [refusal] = r.json()["errors"]
    assert refusal["field"] == "to" and "550" in refusal["reason"]

    # An internationalized address arrives (SMTPUTF8, the domain in IDNA on the RCPT line).
    intl = f"jörg-{tag}@bücher.example"
    r = await http.post(f"{nurture}/v1/templates/{email['key']}/test-send",
                        headers=admin_headers, json={"to": intl})
    assert r.status_code == 202, r.text

    async def intl_arrived() -> None:
        assert [m for m in stack.received_mail() if m["To"] == intl]
    await eventually(intl_arrived, timeout_s=30)

    sms = await _template(http, stack, admin_headers, {
        "key": f"e2e-try-sms-{tag}", "channel": "sms", "text": "Hi {{ lead.first_name }}"})
    r = await http.post(f"{nurture}/v1/templates/{sms['key']}/test-send",
                        headers=admin_headers, json={"to": me})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "to"


async def test_a_lead_with_an_internationalized_address_gets_its_sequence_mail(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    key, campaign = await create_sequence(http, stack, admin_headers, [
        {"kind": "send_email", "template": "welcome"}])
    suffix = uuid.uuid4().hex[:8]
    body = cold_lead(campaign, email=f"jörg.{suffix}@bücher-{suffix}.example")
    lead_id = await new_lead(http, stack, admin_headers, body)

    async def mailed() -> None:
        assert len(mail_to(stack, body["email"], key)) == 1
    await eventually(mailed, timeout_s=60)
    messages = await http.get(f"{stack.url('nurture')}/v1/leads/{lead_id}/messages",
                              headers=admin_headers)
    assert [m["status"] for m in messages.json()["items"] if m["sequence_key"] == key] == ["sent"]
