"""Forms as configuration and submissions from plain HTML forms, fetch and API clients."""

import uuid
from typing import Any

import httpx
import pytest

from leadloop_devstack.stack import Stack
from tests.e2e.capture_fixtures import contact_form, create_form, unique_email
from tests.support import TopicReader

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _submissions(stack: Stack, form: dict[str, Any]) -> str:
    return f"{stack.url('capture')}/v1/forms/{form['id']}/submissions"


async def _lead_by_email(http: httpx.AsyncClient, stack: Stack, headers: dict[str, str],
                         email: str) -> dict[str, Any]:
    r = await http.get(f"{stack.url('capture')}/v1/leads", params={"email": email},
                       headers=headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 1, r.text
    lead: dict[str, Any] = r.json()["items"][0]
    return lead


async def test_plain_html_form_post_redirects_browser_and_becomes_a_lead_with_events(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    email = unique_email("html")
    r = await http.post(_submissions(stack, form), headers=BROWSER, data={
        "_form_key": form["public_key"], "email": f"  {email} ", "first_name": "  Ana  ",
        "country": "de", "phone": "030 1234567", "budget": "10k-50k", "newsletter": "on",
        "how_heard": "podcast", "utm_source": "newsletter", "utm_campaign": "nov",
        "website_url_hp": ""})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "https://www.example.com/thanks"

    lead = await _lead_by_email(http, stack, admin_headers, email)
    profile = lead["profile"]
    assert profile["email"] == email.lower() and profile["first_name"] == "Ana"
    assert profile["country"] == "DE" and profile["phone"] == "+49301234567"
    assert profile["properties"] == {"budget": "10k-50k", "how_heard": "podcast"}
    assert lead["consent"]["email_marketing"] is True
    assert lead["consent"]["version"] == "2026-11"
    assert lead["source"]["utm_source"] == "newsletter" and lead["source"]["channel"] == "form"

    async with TopicReader(stack.bootstrap_servers, "leadloop.capture") as reader:
        events = await reader.wait_for(lambda evs: {e.type for e in evs
                                                    if e.subject == lead["lead_id"]} >= {
            "leadloop.lead.created.v1", "leadloop.lead.activity.v1"})
    mine = {e.type: e.data for e in events if e.subject == lead["lead_id"]}
    assert mine["leadloop.lead.created.v1"]["form_id"] == form["id"]
    assert mine["leadloop.lead.activity.v1"]["kind"] == "form_submitted"


async def test_multipart_and_json_submissions_answer_api_clients_with_json(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    key = {"X-Form-Key": form["public_key"]}
    email = unique_email("multi")
    multipart = await http.post(_submissions(stack, form), headers=key,
                                files={"email": (None, email), "last_name": (None, "Ng")})
    assert multipart.status_code == 201, multipart.text
    assert multipart.json()["status"] == "received" and "lead_id" not in multipart.json()

    as_json = await http.post(_submissions(stack, form), headers=key,
                              json={"email": email.upper(), "company": "Example Corp"})
    assert as_json.status_code == 201, as_json.text
    assert as_json.json().keys() == multipart.json().keys()
    lead = await _lead_by_email(http, stack, admin_headers, email)
    assert lead["profile"]["company"] == "Example Corp", "an empty field was filled"
    # An API client with leads:write is told what happened to which lead.
    again = await http.post(_submissions(stack, form), headers=admin_headers,
                            json={"email": email, "company": "Example Corp"})
    assert again.status_code == 200, again.text
    assert again.json() == {"submission_id": again.json()["submission_id"],
                            "lead_id": lead["lead_id"], "status": "unchanged"}

    timeline = await http.get(f"{stack.url('capture')}/v1/leads/{lead['lead_id']}/activities",
                              headers=admin_headers)
    assert [a["kind"] for a in timeline.json()["items"]] == ["form_submitted"] * 3


async def test_cors_allows_only_the_forms_origins(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    url = _submissions(stack, form)
    ok = await http.options(url, headers={"Origin": "https://www.example.com",
                                          "Access-Control-Request-Method": "POST"})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == "https://www.example.com"
    assert "x-form-key" in ok.headers["access-control-allow-headers"]
    evil = await http.options(url, headers={"Origin": "https://evil.example",
                                            "Access-Control-Request-Method": "POST"})
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers

    posted = await http.post(url, headers={"Origin": "https://www.example.com",
                                           "X-Form-Key": form["public_key"]},
                             json={"email": unique_email("cors")})
    assert posted.status_code == 201
    assert posted.headers["access-control-allow-origin"] == "https://www.example.com"
    refused = await http.post(url, headers={"Origin": "https://evil.example",
                                            "X-Form-Key": form["public_key"]},
                              json={"email": unique_email("cors")})
    assert refused.status_code == 403


async def test_public_form_key_submits_to_its_own_form_and_nothing_else(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    mine = await create_form(http, stack, admin_headers, contact_form())
    other = await create_form(http, stack, admin_headers, contact_form())
    key = mine["public_key"]
    base = stack.url("capture")
    assert (await http.post(_submissions(stack, other), headers={"X-Form-Key": key},
                            json={"email": unique_email()})).status_code == 403
    assert (await http.post(_submissions(stack, mine),
                            json={"email": unique_email()})).status_code == 401
    for method, path in [("GET", f"/v1/forms/{mine['id']}"), ("POST", "/v1/leads"),
                         ("GET", f"/v1/leads?email={unique_email()}"), ("POST", "/v1/forms"),
                         ("POST", "/v1/activities")]:
        for header in ("X-API-Key", "X-Form-Key"):
            r = await http.request(method, base + path, headers={header: key}, json={})
            assert r.status_code == 401, (method, path, header, r.status_code)
    rotated = await http.post(f"{base}/v1/forms/{mine['id']}/key", headers=admin_headers)
    assert (await http.post(_submissions(stack, mine), headers={"X-Form-Key": key},
                            json={"email": unique_email()})).status_code == 403
    assert (await http.post(_submissions(stack, mine),
                            headers={"X-Form-Key": rotated.json()["public_key"]},
                            json={"email": unique_email()})).status_code == 201


async def test_bad_admin_form_config_is_refused_naming_the_field(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    r = await http.post(f"{stack.url('capture')}/v1/forms", headers=admin_headers,
                        json=contact_form(allowed_origins=["not an origin"]))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "allowed_origins"
    no_email = contact_form(fields=[{"name": "first_name"}])
    r = await http.post(f"{stack.url('capture')}/v1/forms", headers=admin_headers, json=no_email)
    assert r.status_code == 422 and "email" in r.text


async def test_idempotency_key_replays_the_first_answer_and_creates_nothing_new(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    email = unique_email("idem")
    headers = {"X-Form-Key": form["public_key"], "Idempotency-Key": str(uuid.uuid4())}
    first = await http.post(_submissions(stack, form), headers=headers, json={"email": email})
    retry = await http.post(_submissions(stack, form), headers=headers, json={"email": email})
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    lead = await _lead_by_email(http, stack, admin_headers, email)
    timeline = await http.get(f"{stack.url('capture')}/v1/leads/{lead['lead_id']}/activities",
                              headers=admin_headers)
    assert len(timeline.json()["items"]) == 1, "the retry recorded no second submission"
    reused = await http.post(_submissions(stack, form), headers=headers,
                             json={"email": unique_email()})
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["field"] == "Idempotency-Key"

    browser = {**BROWSER, "Idempotency-Key": str(uuid.uuid4())}
    body = {"_form_key": form["public_key"], "email": unique_email("idem303")}
    a = await http.post(_submissions(stack, form), headers=browser, data=body)
    b = await http.post(_submissions(stack, form), headers=browser, data=body)
    assert a.status_code == b.status_code == 303
    assert a.headers["location"] == b.headers["location"]

    lead_key = {**admin_headers, "Idempotency-Key": str(uuid.uuid4())}
    lead = {"email": unique_email("api")}
    one = await http.post(f"{stack.url('capture')}/v1/leads", headers=lead_key, json=lead)
    two = await http.post(f"{stack.url('capture')}/v1/leads", headers=lead_key, json=lead)
    assert one.status_code == two.status_code == 201 and one.json() == two.json()


async def test_consent_per_purpose_changes_are_each_a_consent_changed_event(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    fields = [*contact_form()["fields"], {"name": "call_me", "type": "consent",
                                          "maps_to": "consent.sales_contact"}]
    form = await create_form(http, stack, admin_headers, contact_form(fields=fields))
    key = {"X-Form-Key": form["public_key"]}
    email = unique_email("consent")
    first = await http.post(_submissions(stack, form), headers=key,
                            data={"email": email, "newsletter": "on"})
    assert first.status_code == 201, first.text
    lead_id = (await _lead_by_email(http, stack, admin_headers, email))["lead_id"]
    # A trusted client (leads:write) posting the form for a known lead: applied at once (a
    # public post's consent for a known address waits for double opt-in).
    await http.post(_submissions(stack, form), headers=admin_headers,
                    data={"email": email, "call_me": "on"})
    lead = await _lead_by_email(http, stack, admin_headers, email)
    assert lead["consent"]["email_marketing"] is True, "an unchecked box withdraws nothing"
    assert lead["consent"]["sales_contact"] is True
    withdrawn = await http.post(f"{stack.url('capture')}/v1/leads", headers=admin_headers,
                                json={"email": email, "consent": {
                                    "email_marketing": False, "lawful_basis": "consent",
                                    "source": "preference-center"}})
    assert withdrawn.json()["status"] == "updated"

    async with TopicReader(stack.bootstrap_servers, "leadloop.capture") as reader:
        events = await reader.wait_for(lambda evs: len([
            e for e in evs if e.subject == lead_id
            and e.type == "leadloop.lead.consent_changed.v1"]) == 3)
    changes = [(e.data["purpose"], e.data["granted"], e.data["source"]) for e in events
               if e.subject == lead_id and e.type == "leadloop.lead.consent_changed.v1"]
    assert changes == [("email_marketing", True, f"form:{form['id']}"),
                       ("sales_contact", True, f"form:{form['id']}"),
                       ("email_marketing", False, "preference-center")]
    granted = next(e.data for e in events if e.subject == lead_id
                   and e.type == "leadloop.lead.consent_changed.v1")
    assert granted["version"] == "2026-11" and granted["lawful_basis"] == "consent"


async def test_embed_script_posts_to_the_configured_url_whatever_the_host_header_says(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    form = await create_form(http, stack, admin_headers, contact_form())
    script = await http.get(f"{stack.url('capture')}/v1/forms/{form['id']}/embed.js",
                            params={"key": form["public_key"]},
                            headers={"Host": "attacker.example"})
    assert script.status_code == 200, script.text
    endpoint = script.text.split('"endpoint":"')[1].split('"')[0]
    # The stack sets capture's HOST and PORT, from which its public URL defaults.
    assert endpoint == stack.url("capture")
    assert "attacker.example" not in script.text


async def test_a_size_picklist_and_a_native_country_name_become_a_lead_not_a_refusal(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    # HubSpot's and Marketo's forms offer company size as ranges; lists carry countries as
    # people write them. Either used to refuse the whole lead.
    sizes = ["1-10", "11-50", "51-200", "201-1,000", "1,000+"]
    form = await create_form(http, stack, admin_headers, contact_form(fields=[
        {"name": "email", "type": "email", "required": True},
        {"name": "country", "type": "country"},
        {"name": "employees", "type": "select", "options": sizes, "maps_to": "company_size"}]))
    email = unique_email("sizes")
    r = await http.post(_submissions(stack, form), headers={"X-Form-Key": form["public_key"]},
                        json={"email": email, "country": "Deutschland", "employees": "51-200"})
    assert r.status_code == 201, r.text
    profile = (await _lead_by_email(http, stack, admin_headers, email))["profile"]
    assert (profile["company_size"], profile["country"]) == (51, "DE")

    api_email = unique_email("sizes-api")
    r = await http.post(f"{stack.url('capture')}/v1/leads", headers=admin_headers, json={
        "email": api_email, "company_size": "1,200", "country": "Korea, Republic of"})
    assert r.status_code == 201, r.text
    profile = (await _lead_by_email(http, stack, admin_headers, api_email))["profile"]
    assert (profile["company_size"], profile["country"]) == (1200, "KR")

    refused = await http.post(f"{stack.url('capture')}/v1/leads", headers=admin_headers,
                              json={"email": unique_email("sizes-bad"), "company_size": "1.200"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "company_size", refused.text
