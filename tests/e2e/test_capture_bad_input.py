"""The bad-input matrix: every malformed, oversize, mistyped or hostile submission gets a 4xx
naming the field and reason (never a 500), and hostile text is stored inert."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.capture_fixtures import contact_form, create_form, lead_id_of, unique_email
from tests.e2e.conftest import service_dsn

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

INJECTIONS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "'; DROP TABLE leads; --",
    "\" onmouseover=\"alert(1)",
    "{{7*7}} ${7*7}",
    "=HYPERLINK(\"http://evil.example\")",
]


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    """A body sent chunked, with no Content-Length to refuse it by."""
    for part in parts:
        yield part


async def test_bad_submissions_are_refused_with_status_field_and_reason(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form(max_body_bytes=4096))
    strict = await create_form(http, stack, admin_headers, contact_form(mode="strict"))
    url = f"{stack.url('capture')}/v1/forms/{form['id']}/submissions"
    strict_url = f"{stack.url('capture')}/v1/forms/{strict['id']}/submissions"
    key = {"X-Form-Key": form["public_key"]}
    json_ct = {**key, "Content-Type": "application/json"}
    boundary = "----llboundary"
    # (name, url, headers, body or kwargs, status, field)
    cases: list[tuple[str, str, dict[str, str], dict[str, Any], int, str | None]] = [
        ("truncated json", url, json_ct, {"content": b'{"email": "a@b.co'}, 422, "body"),
        ("json array", url, json_ct, {"content": b'["a@b.co"]'}, 422, "body"),
        ("json nested object", url, key, {"json": {"email": unique_email(),
                                                   "first_name": {"x": 1}}}, 422, "first_name"),
        ("not utf-8 form", url, {**key, "Content-Type": "application/x-www-form-urlencoded"},
         {"content": b"email=\xff\xfe"}, 422, "body"),
        ("broken multipart", url,
         {**key, "Content-Type": f"multipart/form-data; boundary={boundary}"},
         {"content": f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nx".encode()},
         422, "body"),
        ("file upload", url, key, {"files": {"email": ("a.txt", b"x@y.co", "text/plain")}},
         422, "email"),
        ("oversize declared", url, json_ct,
         {"content": b'{"email": "' + b"a" * 5000 + b'"}'}, 413, None),
        ("oversize streamed", url, {**key, "Content-Type": "application/json"},
         {"content": _chunks([b'{"first_name": "', b"a" * 3000, b"b" * 3000, b'"}'])}, 413,
         None),
        ("text/plain", url, {**key, "Content-Type": "text/plain"}, {"content": b"email=a@b.co"},
         415, None),
        ("no content type", url, key, {"content": b"email=a@b.co"}, 415, None),
        ("xml", url, {**key, "Content-Type": "application/xml"}, {"content": b"<a/>"}, 415, None),
        ("missing email", url, key, {"json": {"first_name": "Jo"}}, 422, "email"),
        ("bad email", url, key, {"json": {"email": "jo@@example"}}, 422, "email"),
        ("bad country", url, key, {"json": {"email": unique_email(), "country": "Atlantis"}},
         422, "country"),
        ("bad phone", url, key, {"json": {"email": unique_email(), "phone": "call me"}},
         422, "phone"),
        ("not an option", url, key, {"json": {"email": unique_email(), "budget": "1M"}},
         422, "budget"),
        ("too long", url, key, {"json": {"email": unique_email(), "first_name": "a" * 2001}},
         422, "first_name"),
        ("unknown field, strict form", strict_url, {"X-Form-Key": strict["public_key"]},
         {"json": {"email": unique_email(), "favourite_colour": "red"}}, 422,
         "favourite_colour"),
        ("bad idempotency key", url, {**key, "Idempotency-Key": "x" * 300},
         {"json": {"email": unique_email()}}, 422, "Idempotency-Key"),
        ("NUL in json", url, key, {"json": {"email": unique_email(), "first_name": "A\x00"}},
         422, "first_name"),
        ("NUL in form", url, {**key, "Content-Type": "application/x-www-form-urlencoded"},
         {"content": b"email=a%40b.co&company=Ac%00me"}, 422, "company"),
        ("NUL in spam", url, key, {"json": {"email": "a@b.co", "website_url_hp": "x",
                                             "notes": "\x00"}}, 422, "notes"),
        ("cp1252 page", url, {**key, "Content-Type": "application/x-www-form-urlencoded"},
         {"content": b"email=a%40b.co&first_name=Jos%E9"}, 422, "first_name"),
        ("NUL in lead", f"{stack.url('capture')}/v1/leads", admin_headers,
         {"json": {"email": unique_email(), "properties": {"note": "\x00"}}}, 422,
         "properties"),
        ("NUL in activity", f"{stack.url('capture')}/v1/activities", admin_headers,
         {"json": [{"kind": "custom", "name": "x\x00", "visitor_id": "v-12345678"}]}, 422,
         "0.name"),
    ]
    for name, target, headers, kwargs, expected, field in cases:
        r = await http.post(target, headers=headers, **kwargs)
        assert r.status_code == expected, (name, r.status_code, r.text)
        if field is not None:
            assert field in {e["field"] for e in r.json()["errors"]}, (name, r.text)
            assert all(e["reason"] for e in r.json()["errors"]), (name, r.text)


async def test_injection_strings_are_stored_verbatim_and_served_inert(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    url = f"{stack.url('capture')}/v1/forms/{form['id']}/submissions"
    for text in INJECTIONS:
        email = unique_email("inj")
        r = await http.post(url, headers={"X-Form-Key": form["public_key"]},
                            data={"email": email, "first_name": text, "company": text,
                                  text[:20].replace(" ", "_") or "x": text})
        assert r.status_code == 201, (text, r.text)
        lead_id = await lead_id_of(http, stack, admin_headers, email)
        shown = await http.get(f"{stack.url('capture')}/v1/leads/{lead_id}",
                               headers=admin_headers)
        assert shown.headers["content-type"] == "application/json"
        assert shown.json()["profile"]["first_name"] == text
        assert shown.json()["profile"]["company"] == text
    leads = await http.get(f"{stack.url('capture')}/v1/leads",
                           params={"email": email}, headers=admin_headers)
    assert leads.status_code == 200, "the leads table survived the SQL injection string"


async def test_duplicate_submissions_from_many_spellings_make_one_lead(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    url = f"{stack.url('capture')}/v1/forms/{form['id']}/submissions"
    email = unique_email("dup")
    spellings = [email, email.upper(), f"  {email}  ", email.lower()]
    for spelling in spellings:
        r = await http.post(url, headers={"X-Form-Key": form["public_key"]},
                            data={"email": spelling, "first_name": "Kim"})
        assert r.status_code == 201, r.text
    lead_id = await lead_id_of(http, stack, admin_headers, email)  # exactly one
    timeline = await http.get(f"{stack.url('capture')}/v1/leads/{lead_id}/activities",
                              headers=admin_headers)
    assert [a["kind"] for a in timeline.json()["items"]] == ["form_submitted"] * len(spellings)


async def test_spam_is_recorded_as_spam_not_as_a_lead_and_counted(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    slow = await create_form(http, stack, admin_headers,
                             contact_form(spam={"min_fill_seconds": 30}))
    base = stack.url("capture")
    bot = unique_email("bot")
    r = await http.post(f"{base}/v1/forms/{form['id']}/submissions",
                        headers={"X-Form-Key": form["public_key"]},
                        data={"email": bot, "website_url_hp": "http://spam.example"})
    assert r.status_code == 200 and r.json()["status"] == "spam" and "lead_id" not in r.json()
    script = await http.get(f"{base}/v1/forms/{slow['id']}/embed.js",
                            params={"key": slow["public_key"]})
    token = script.text.split('"token":"')[1].split('"')[0]
    fast = await http.post(f"{base}/v1/forms/{slow['id']}/submissions",
                           headers={"X-Form-Key": slow["public_key"]},
                           json={"email": bot, "_ts": token})
    assert fast.json()["status"] == "spam"
    found = await http.get(f"{base}/v1/leads", params={"email": bot}, headers=admin_headers)
    assert found.json()["items"] == []
    metrics = (await http.get(f"{base}/metrics")).text
    spam_line = next(line for line in metrics.splitlines()
                     if line.startswith('capture_form_submissions_total{outcome="spam"}'))
    assert float(spam_line.split()[-1]) >= 2


async def test_a_no_javascript_post_to_a_form_with_a_minimum_fill_time_is_kept_flagged(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers,
                             contact_form(spam={"min_fill_seconds": 5}))
    url = f"{stack.url('capture')}/v1/forms/{form['id']}/submissions"
    person, tab_left_open = unique_email("nojs"), unique_email("stale")
    # A plain HTML form: no embed script, so no fill-time token.
    page = await http.post(url, data={"email": person, "first_name": "Noa",
                                      "_form_key": form["public_key"]},
                           headers={"Accept": "text/html"})
    assert page.status_code == 303
    forged = await http.post(url, headers={"X-Form-Key": form["public_key"]},
                             json={"email": tab_left_open, "_ts": "1000." + "0" * 32})
    assert forged.status_code == 201 and forged.json()["unverified"] == "invalid_fill_time_token"
    for email, reason in ((person, "missing_fill_time_token"),
                          (tab_left_open, "invalid_fill_time_token")):
        found = (await http.get(f"{stack.url('capture')}/v1/leads", params={"email": email},
                                headers=admin_headers)).json()["items"]
        assert len(found) == 1, f"the lead of {email} was lost"
        timeline = (await http.get(
            f"{stack.url('capture')}/v1/leads/{found[0]['lead_id']}/activities",
            headers=admin_headers)).json()["items"]
        assert timeline[0]["kind"] == "form_submitted"
        assert timeline[0]["properties"]["unverified"] == reason
    conn = await asyncpg.connect(service_dsn(stack, "capture"))
    try:
        rows = await conn.fetch("SELECT status, spam_reason FROM submissions WHERE form_id = $1",
                                form["id"])
    finally:
        await conn.close()
    assert sorted((r["status"], r["spam_reason"]) for r in rows) == [
        ("unverified", "invalid_fill_time_token"), ("unverified", "missing_fill_time_token")]


async def test_too_many_submissions_get_429_with_retry_after(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers,
                             contact_form(spam={"per_ip_per_minute": 2}))
    url = f"{stack.url('capture')}/v1/forms/{form['id']}/submissions"
    codes = []
    for _ in range(3):
        r = await http.post(url, headers={"X-Form-Key": form["public_key"],
                                          "Idempotency-Key": str(uuid.uuid4())},
                            json={"email": unique_email("rl")})
        codes.append(r.status_code)
    assert codes[:2] == [201, 201] and codes[2] == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
