"""What an email looks like when it leaves: personalization, escaping, tracked links, a readable
plain-text part, one-click unsubscribe headers; and signed links and webhooks that cannot be
forged (Standard Webhooks, checked with the `standardwebhooks` library)."""

import base64
import email
import email.policy
import re
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Annotated, Any

import httpx
import pytest
from pydantic import Field, TypeAdapter, ValidationError
from standardwebhooks import Webhook

from leadloop.mail import MAILBOX_PATTERN, smtp_mailbox
from nurture.content.templates import Template, render
from nurture.sending.channels import send_webhook
from nurture.sending.mail import MailContext, personalize, render_email
from nurture.sequences.steps import Channel
from nurture.tracking.tokens import click_token, message_token, read_click_token, read_token

CTX = MailContext(base_url="https://nurture.example", link_secret="s3cret",
                  mail_from="LeadLoop <hello@leadloop.example>", sales_phone="+1 555 0100")
MESSAGE = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
# As the seeded "welcome" template reads (migrations/versions/0009_templates.py).
WELCOME = Template(
    key="welcome", version=1, channel=Channel.email,
    subject="Welcome{% if lead.first_name %}, {{ lead.first_name }}{% endif %}",
    html='<p>Hi {{ lead.first_name or "there" }},</p>\n'
         "<p>Thanks for your interest{% if lead.company %} from {{ lead.company }}{% endif %}."
         "</p>\n<p><a href=\"{{ track('https://leadloop.example/guides/getting-started') }}\">"
         "Read the guide</a></p>\n<p>Call us directly at <a href=\"tel:{{ sales_phone | "
         "replace(' ', '') }}\">{{ sales_phone }}</a>.</p>\n")


def _outgoing(**lead: Any) -> Any:
    fields = {"first_name": "Sam", "last_name": None, "company": "Widgets",
              "email": "sam@widgets.example", **lead}
    values, links = personalize(CTX, MESSAGE, fields, 12, None)
    return render_email(CTX, render(WELCOME, values), MESSAGE, "sam@widgets.example",
                        [("X-LeadLoop-Sequence", "welcome/0")], NOW, links)


def _received(**lead: Any) -> EmailMessage:
    """The email rendered for a lead, parsed as the receiving mail server would."""
    outgoing = _outgoing(**lead)
    assert outgoing.sender == "hello@leadloop.example"
    assert outgoing.recipient == "sam@widgets.example"
    parsed = email.message_from_bytes(outgoing.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _html(first_name: str | None = "Sam", company: str | None = "Widgets") -> str:
    part = _received(first_name=first_name, company=company).get_body(
        preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def test_email_is_personalized_and_carries_a_call_to_action() -> None:
    msg = _received()
    assert msg["Subject"] == "Welcome, Sam"
    assert msg["To"] == "sam@widgets.example"
    html = _html()
    assert "Hi Sam," in html and "from Widgets" in html
    assert 'href="tel:+15550100"' in html


def test_missing_name_reads_naturally() -> None:
    assert "Hi there," in _html(first_name=None, company=None)


def test_profile_values_are_html_escaped() -> None:
    html = _html(first_name="<script>alert(1)</script>")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_one_click_unsubscribe_headers_follow_rfc_8058() -> None:
    msg = _received(first_name=None)
    token = message_token("s3cret", "unsubscribe", MESSAGE)
    assert msg["List-Unsubscribe"] == f"<https://nurture.example/u/{token}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Message-ID"] == f"<{MESSAGE}@leadloop.local>"


def test_non_ascii_names_are_encoded_and_header_injection_is_impossible() -> None:
    assert _received(first_name="Jürgen")["Subject"] == "Welcome, Jürgen"
    msg = _received(first_name="Eve\r\nBcc: victim@x.example")
    assert msg["Bcc"] is None
    assert msg["Subject"] == "Welcome, Eve Bcc: victim@x.example"


def test_an_internationalized_address_is_written_as_is_and_its_domain_sent_in_idna() -> None:
    outgoing = render_email(CTX, render(WELCOME, personalize(CTX, MESSAGE, {}, 12, None)[0]),
                            MESSAGE, "jörg@bücher.example", [], NOW, [])
    parsed = email.message_from_bytes(outgoing.data, policy=email.policy.default)
    assert parsed["To"] == "jörg@bücher.example"  # UTF-8 (RFC 6532), not an encoded-word
    assert smtp_mailbox("jörg@bücher.example") == "jörg@xn--bcher-kva.example"
    assert smtp_mailbox("sam@widgets.example") == "sam@widgets.example"
    with pytest.raises(ValueError):
        smtp_mailbox("sam@" + "x" * 64 + ".bücher.example")  # a label longer than DNS allows
    for unsendable in ["a\x1eb@widgets.example", "a<b@widgets.example", "a b@widgets.example"]:
        with pytest.raises(ValueError):
            smtp_mailbox(unsendable)


def test_links_go_through_signed_click_redirects_and_a_pixel_tracks_opens() -> None:
    html = _html()
    clicks = re.findall(r'href="(https://nurture.example/c/[^"]+)"', html)
    assert clicks == [f"https://nurture.example/c/{click_token('s3cret', MESSAGE, 0)}"]
    assert f'src="https://nurture.example/o/{message_token("s3cret", "open", MESSAGE)}.gif"' \
        in html


def test_a_click_link_names_a_stored_target_by_number_never_a_url() -> None:
    outgoing = _outgoing(company="W")
    # The target is stored with the message; the link carries only (message, number, MAC).
    assert outgoing.links == ("https://leadloop.example/guides/getting-started",)
    html = _html()
    assert "leadloop.example/guides" not in "".join(re.findall(r'href="([^"]+/c[/?][^"]*)"',
                                                               html))
    assert "u=" not in html


def test_a_changed_click_or_message_token_is_rejected() -> None:
    token = click_token("s3cret", MESSAGE, 0)
    assert read_click_token("s3cret", token) == (MESSAGE, 0)
    assert read_click_token("other", token) is None  # a secret nobody published
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    other_link = base64.urlsafe_b64encode(raw[:16] + (1).to_bytes(2, "big") + raw[18:])
    assert read_click_token("s3cret", other_link.decode().rstrip("=")) is None
    assert read_click_token("s3cret", "not-a-token") is None
    assert read_click_token("s3cret", message_token("s3cret", "open", MESSAGE)) is None
    token = message_token("s3cret", "unsubscribe", MESSAGE)
    assert read_token("s3cret", "unsubscribe", token) == MESSAGE
    assert read_token("s3cret", "open", token) is None  # an open token cannot unsubscribe
    assert read_token("s3cret", "unsubscribe", token[:-2] + "AA") is None
    assert read_token("s3cret", "unsubscribe", "not-a-token") is None


def test_the_plain_text_part_reads_like_the_html_with_links_spelled_out() -> None:
    part = _received().get_body(preferencelist=("plain",))
    assert part is not None
    text = str(part.get_content())
    assert "HTML mail reader" not in text
    assert "Hi Sam," in text and "Thanks for your interest from Widgets." in text
    click = f"https://nurture.example/c/{click_token('s3cret', MESSAGE, 0)}"
    assert f"Read the guide ({click})" in text
    unsubscribe = f"https://nurture.example/u/{message_token('s3cret', 'unsubscribe', MESSAGE)}"
    assert text.rstrip().endswith(unsubscribe)


def test_every_email_carries_the_unsubscribe_footer_whatever_the_template() -> None:
    bare = Template(key="bare", version=1, channel=Channel.email, subject="Hi",
                    html="<html><body><p>Only this.</p></body></html>")
    values, links = personalize(CTX, MESSAGE, {}, None, None)
    outgoing = render_email(CTX, render(bare, values), MESSAGE, "a@b.example", [], NOW, links)
    parsed = email.message_from_bytes(outgoing.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    html_part = parsed.get_body(preferencelist=("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    assert html.index("Unsubscribe</a>") < html.index("</body>")


@pytest.mark.asyncio
async def test_webhook_channel_posts_a_signed_idempotent_request() -> None:
    seen: list[httpx.Request] = []

    def adapter(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202 if len(seen) == 1 else 400 if len(seen) == 2 else 503)

    async with httpx.AsyncClient(transport=httpx.MockTransport(adapter)) as client:
        payload = {"message_id": str(MESSAGE), "channel": "sms", "template": "hello"}
        # A public address literal: no name to resolve on a machine without DNS.
        adapter_url = "https://93.184.215.14/hook"
        assert (await send_webhook(client, adapter_url, "hook", payload)).ok
        refused = await send_webhook(client, adapter_url, "hook", payload)
        down = await send_webhook(client, adapter_url, "hook", payload)
    assert not refused.ok and refused.permanent
    assert not down.ok and not down.permanent
    request = seen[0]
    assert request.headers["webhook-id"] == request.headers["Idempotency-Key"] == str(MESSAGE)
    # The receiver's side, as a provider's adapter verifies it (a plain secret as bytes).
    assert Webhook(b"hook").verify(request.content, dict(request.headers)) == payload
    with pytest.raises(Exception, match="signature"):
        Webhook(b"other").verify(request.content, dict(request.headers))


@pytest.mark.parametrize("char", [chr(c) for c in range(0x250)] + ["\u2003", "\u3000", "\ufeff"])
def test_the_http_check_of_an_address_and_the_smtp_check_agree_on_every_character(
        char: str) -> None:
    # A test send's `to` is checked by pydantic (Rust regex), the RCPT line by Python's re: an
    # address one lets through and the other refuses would be a 500 instead of a 422.
    address = f"a{char}b@widgets.example"
    try:
        TypeAdapter(Annotated[str, Field(pattern=MAILBOX_PATTERN)]).validate_python(address)
        http_takes = True
    except ValidationError:
        http_takes = False
    try:
        smtp_mailbox(address)
        smtp_takes = True
    except ValueError:
        smtp_takes = False
    assert http_takes == smtp_takes or (char == "@" and not http_takes)
