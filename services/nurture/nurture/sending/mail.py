"""Email as it leaves: a rendered template (content.templates) personalized with tracked links,
the unsubscribe footer every marketing email carries, and the MIME text.

Pure: given the message id, the lead and the links' secret, it returns the message bytes as
they will leave, so tests can parse them as a receiver would, without a server.
"""

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, parseaddr
from typing import Any
from uuid import UUID

from leadloop.templates import Templates
from nurture.content.templates import Rendered, variables
from nurture.tracking.tokens import click_token, message_token

_FOOTER = Templates("nurture").template("footer.html")


@dataclass(frozen=True)
class MailContext:
    """Where links point and what every email says."""

    base_url: str
    link_secret: str
    mail_from: str
    sales_phone: str


def unsubscribe_url(ctx: MailContext, message_id: UUID) -> str:
    """The one-click unsubscribe URL of a message (also the confirmation page)."""
    return f"{ctx.base_url}/u/{message_token(ctx.link_secret, 'unsubscribe', message_id)}"


def personalize(ctx: MailContext, message_id: UUID, lead: Mapping[str, Any],
                score: int | None, rep: Mapping[str, Any] | None,
                tracked: bool = True) -> tuple[dict[str, Any], list[str]]:
    """A template's variables for one message, and the list its tracked links fill as it
    renders (link number = position). Untracked (previews, test sends): links stay as given."""
    links: list[str] = []

    def track(url: str) -> str:
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ValueError(f"a tracked link must be an http(s) URL, not {str(url)[:100]!r}")
        if not tracked:
            return url
        if url not in links:
            links.append(url)
        return f"{ctx.base_url}/c/{click_token(ctx.link_secret, message_id, links.index(url))}"

    track_link: Callable[[str], str] = track
    return variables(lead, score, rep, unsubscribe_url(ctx, message_id), track_link,
                     ctx.sales_phone), links


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


def _with_footer(html: str, unsubscribe: str, pixel: str | None) -> str:
    """The HTML with the unsubscribe footer (and open pixel) every marketing email carries,
    whatever the template says, before </body> when there is one."""
    footer = _FOOTER.render(unsubscribe=unsubscribe, pixel=pixel)
    match = re.search(r"</body\s*>", html, re.IGNORECASE)
    if match is None:
        return html.rstrip("\n") + "\n" + footer
    return html[:match.start()] + footer + html[match.start():]


def _base64(text: str) -> str:
    return base64.encodebytes(text.encode()).decode().replace("\n", "\r\n")


def render_email(ctx: MailContext, content: Rendered, message_id: UUID, to: str,
                 headers: list[tuple[str, str]], now: datetime, links: list[str],
                 tracked: bool = True) -> OutgoingEmail:
    """The email of one rendered template: subject, HTML and readable plain text, each with
    the unsubscribe footer, and the one-click unsubscribe headers (RFC 8058).

    The MIME text is written directly rather than through email.message: at thousands of sends
    a minute, the email package's header parsing and serializing cost more than everything else.
    """
    unsubscribe = unsubscribe_url(ctx, message_id)
    pixel = (f"{ctx.base_url}/o/{message_token(ctx.link_secret, 'open', message_id)}.gif"
             if tracked else None)
    html = _with_footer(content.html or "", unsubscribe, pixel)
    text = (content.text.rstrip("\n") + "\n\n-- \nYou get this because you asked for news from "
            f"us. Unsubscribe with one click: {unsubscribe}\n").replace("\n", "\r\n")
    boundary = f"=_leadloop_{message_id.hex}"
    all_headers = [
        ("From", ctx.mail_from), ("To", to), ("Subject", content.subject or ""),
        ("Date", format_datetime(now)),
        # One Message-ID per (enrollment, step) message: a receiver can drop a resend, and a
        # reply's In-Reply-To names the message (POST /v1/replies takes it).
        ("Message-ID", f"<{message_id}@leadloop.local>"),
        ("List-Unsubscribe", f"<{unsubscribe}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("X-LeadLoop-Message-Id", str(message_id)),
        *headers,
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    # The address goes as written: an encoded-word may not stand in one, and under SMTPUTF8
    # (RFC 6532) a header may carry UTF-8; line breaks still cannot get in.
    lines = [f"{name}: {' '.join(value.splitlines()) if name == 'To' else _header_value(value)}"
             for name, value in all_headers]
    lines += ["", f"--{boundary}", "Content-Type: text/plain; charset=utf-8",
              "Content-Transfer-Encoding: base64", "", _base64(text),
              f"--{boundary}", "Content-Type: text/html; charset=utf-8",
              "Content-Transfer-Encoding: base64", "", _base64(html),
              f"--{boundary}--", ""]
    return OutgoingEmail(sender=parseaddr(ctx.mail_from)[1], recipient=to,
                         data="\r\n".join(lines).encode(), links=tuple(links))
