"""The embed script in a real headless Chromium: a page on another origin with the snippet,
filled and submitted, becomes a lead with its UTM source, referrer, landing page and visitor."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from leadloop_devstack.stack import Stack
from tests.e2e.capture_fixtures import contact_form, create_form, unique_email
from tests.support import TopicReader, eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]



class _Site:
    """A marketing site on 127.0.0.1: pages are set by the test, served as HTML."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def site() -> Iterator[_Site]:
    """The marketing site, served from this test process."""
    s = _Site()
    thread = threading.Thread(target=s.server.serve_forever, daemon=True)
    thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()



def _page(snippet: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Acme</title></head>"
            f"<body>{body}{snippet}</body></html>")


async def test_page_with_snippet_filled_and_submitted_becomes_lead_with_its_utm_source(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient, site: _Site,
        browser: Browser) -> None:
    form = await create_form(http, stack, admin_headers, contact_form(
        redirect_url=None, allowed_origins=[site.origin], campaign="webinar-q4"))
    capture = stack.url("capture")
    snippet = (f'<script async src="{capture}/v1/forms/{form["id"]}/embed.js'
               f'?key={form["public_key"]}"></script>')
    site.pages["/blog"] = _page("", '<a id="go" href="/landing?utm_source=linkedin'
                                    '&utm_medium=social&utm_campaign=q4-launch">Read more</a>')
    site.pages["/landing"] = _page(snippet, f"""
        <form data-leadloop-form="{form['id']}">
          <input name="email" type="email"> <input name="first_name">
          <input name="company"> <label><input type="checkbox" name="newsletter"> News</label>
          <button type="submit">Send</button>
        </form>""")
    email = unique_email("browser")

    page = await browser.new_page()
    await page.goto(f"{site.origin}/blog")
    async with page.expect_response(lambda r: r.url.endswith("/activities")) as tracked:
        await page.click("#go")
    assert (await tracked.value).status == 202
    await page.fill("input[name=email]", email)
    await page.fill("input[name=first_name]", "<b>Bea</b>")
    await page.fill("input[name=company]", "Acme GmbH")
    await page.check("input[name=newsletter]")
    async with page.expect_response(lambda r: r.url.endswith("/submissions")) as submitted:
        await page.click("button[type=submit]")
    assert (await submitted.value).status == 201
    await page.wait_for_selector(".leadloop-thanks")
    # Markup typed into a field is never executed or rendered as markup on the page.
    assert await page.locator("b").count() == 0
    visitor = next(c["value"] for c in await page.context.cookies() if c["name"] == "ll_vid")
    await page.close()

    async def lead_stored() -> dict[str, Any]:
        r = await http.get(f"{capture}/v1/leads", params={"email": email},
                           headers=admin_headers)
        assert r.status_code == 200 and len(r.json()["items"]) == 1, r.text
        found: dict[str, Any] = r.json()["items"][0]
        return found
    lead = await eventually(lead_stored)
    assert lead["profile"]["first_name"] == "<b>Bea</b>"
    assert lead["consent"]["email_marketing"] is True
    source = lead["source"]
    assert source["utm_source"] == "linkedin" and source["utm_campaign"] == "q4-launch"
    assert source["campaign"] == "webinar-q4"
    assert source["landing_page"].startswith(f"{site.origin}/landing?utm_source=linkedin")
    assert source["referrer"] == f"{site.origin}/blog"

    # The anonymous page view is attached to the lead once the visitor is identified.
    timeline = (await http.get(f"{capture}/v1/leads/{lead['lead_id']}/activities",
                               headers=admin_headers)).json()
    assert sorted(a["kind"] for a in timeline) == ["form_submitted", "page_view"]
    async with TopicReader(stack.bootstrap_servers, "leadloop.capture") as reader:
        events = await reader.wait_for(lambda evs: any(
            e.subject == lead["lead_id"] and e.data.get("kind") == "page_view" for e in evs))
    view = next(e.data for e in events
                if e.subject == lead["lead_id"] and e.data.get("kind") == "page_view")
    assert view["url"].startswith(f"{site.origin}/landing")
    assert view["source"]["utm_source"] == "linkedin"
    assert len(visitor) >= 8


async def test_snippet_renders_a_form_into_a_container_and_shows_errors_as_text(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient, site: _Site,
        browser: Browser) -> None:
    form = await create_form(http, stack, admin_headers, contact_form(
        redirect_url=None, allowed_origins=[site.origin]))
    capture = stack.url("capture")
    site.pages["/rendered"] = _page(
        f'<script src="{capture}/v1/forms/{form["id"]}/embed.js?key={form["public_key"]}">'
        "</script>", f'<div data-leadloop-form="{form["id"]}"></div>')
    page = await browser.new_page()
    await page.goto(f"{site.origin}/rendered?utm_source=google")
    await page.wait_for_selector("input[name=email]")
    assert await page.locator("input[name=newsletter][type=checkbox]").count() == 1
    assert "Send me product news" in await page.inner_text("form")
    await page.fill("input[name=email]", unique_email("rendered"))
    await page.fill("input[name=country]", "<i>Narnia</i>")
    async with page.expect_response(lambda r: r.url.endswith("/submissions")) as refused:
        await page.click("button[type=submit]")
    assert (await refused.value).status == 422
    errors = await page.wait_for_selector(".leadloop-errors li")
    assert errors is not None and "country" in await errors.inner_text()
    assert await page.locator(".leadloop-errors i").count() == 0
    await page.fill("input[name=country]", "fr")
    async with page.expect_response(lambda r: r.url.endswith("/submissions")) as accepted:
        await page.click("button[type=submit]")
    assert (await accepted.value).status == 201
    await page.close()
