"""Email rendering: Jinja2 templates (autoescaped), personalization, tracking, unsubscribe.

Rendering is pure: given the message id, the lead and the links' secret, it returns the message
bytes as they will leave, so tests can parse them as a receiver would, without a server.
"""

import base64
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, parseaddr
from typing import Any
from uuid import UUID

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound, select_autoescape

from nurture.tracking import click_token, message_token

_ENV = Environment(loader=PackageLoader("nurture", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   undefined=StrictUndefined)


@dataclass(frozen=True)
class MailContext:
    """Where links point and what every email says."""

    base_url: str
    link_secret: str
    mail_from: str
    sales_phone: str


def template_exists(name: str) -> bool:
    """Whether an email template of that name ships with nurture (partials start with _)."""
    if name.startswith("_"):
        return False
    try:
        _ENV.get_template(f"{name}.html")
    except TemplateNotFound:
        return False
    return True


def unsubscribe_url(ctx: MailContext, message_id: UUID) -> str:
    """The one-click unsubscribe URL of a message (also the confirmation page)."""
    return f"{ctx.base_url}/u/{message_token(ctx.link_secret, 'unsubscribe', message_id)}"


@dataclass(frozen=True)
class OutgoingEmail:
    """A rendered message as it goes over SMTP: envelope sender, recipient and the bytes, and
    the targets of its tracked links (link number = position), stored with the message."""

    sender: str
    recipient: str
    data: bytes
    links: tuple[str, ...] = ()


def _header_value(value: str) -> str:
    """A header value safe to write: no line breaks (no header injection), RFC 2047 if needed."""
    flat = " ".join(value.splitlines())
    return flat if flat.isascii() else Header(flat, "utf-8").encode()


def render_email(ctx: MailContext, template: str, message_id: UUID, to: str,
                 lead: dict[str, Any], sequence_key: str, step: int,
                 now: datetime) -> OutgoingEmail:
    """The email for one send step: personalized, with tracked links and unsubscribe headers.

    The MIME text is written directly rather than through email.message: at thousands of sends
    a minute, the email package's header parsing and serializing cost more than everything else.
    """
    links: list[str] = []

    def track(url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"a tracked link must be an http(s) URL, not {url[:100]!r}")
        if url not in links:
            links.append(url)
        return f"{ctx.base_url}/c/{click_token(ctx.link_secret, message_id, links.index(url))}"

    unsubscribe = unsubscribe_url(ctx, message_id)
    variables = {
        "lead": lead, "sales_phone": ctx.sales_phone, "track": track,
        "unsubscribe_url": unsubscribe,
        "pixel_url": f"{ctx.base_url}/o/{message_token(ctx.link_secret, 'open', message_id)}.gif",
    }
    module = _ENV.get_template(f"{template}.html").make_module(variables)
    html = str(module)  # the rendered body; `subject` is the template's {% set %}
    subject = str(getattr(module, "subject", template))
    boundary = f"=_leadloop_{message_id.hex}"
    headers = [
        ("From", ctx.mail_from), ("To", to), ("Subject", subject),
        ("Date", format_datetime(now)),
        # One Message-ID per (enrollment, step) message: a receiver can drop a resend.
        ("Message-ID", f"<{message_id}@leadloop.local>"),
        ("List-Unsubscribe", f"<{unsubscribe}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),  # RFC 8058
        ("X-LeadLoop-Message-Id", str(message_id)),
        ("X-LeadLoop-Sequence", f"{sequence_key}/{step}"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    text = f"Open this message in an HTML mail reader.\r\nUnsubscribe: {unsubscribe}\r\n"
    lines = [f"{name}: {_header_value(value)}" for name, value in headers]
    lines += ["", f"--{boundary}", "Content-Type: text/plain; charset=us-ascii",
              "Content-Transfer-Encoding: 7bit", "", text,
              f"--{boundary}", "Content-Type: text/html; charset=utf-8",
              "Content-Transfer-Encoding: base64", "",
              base64.encodebytes(html.encode()).decode().replace("\n", "\r\n"),
              f"--{boundary}--", ""]
    return OutgoingEmail(sender=parseaddr(ctx.mail_from)[1], recipient=to,
                         data="\r\n".join(lines).encode(), links=tuple(links))
