"""Double opt-in's pure parts: the signed, expiring link and the mail that carries it."""

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from uuid import UUID

from capture.config import CaptureSettings
from leadloop.events.models import Consent
from leadloop.templates import Templates

# The confirmation mail and the pages its link opens (templates/, autoescaped).
TEMPLATES = Templates("capture")
_PURPOSES = {"email_marketing": "product news and marketing email",
             "sales_contact": "being contacted by our sales team"}


@dataclass(frozen=True)
class ConfirmationRequest:
    """Consent a public form gave a known lead, to be confirmed by the person."""

    lead_id: UUID
    consent: Consent
    form_id: str | None
    submission_id: UUID


def _sign(secret: bytes, confirmation_id: UUID, expires: int) -> str:
    message = f"consent-confirmation.{confirmation_id.hex}.{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def confirmation_token(secret: bytes, confirmation_id: UUID, expires_at: datetime) -> str:
    """`<id>.<expiry, unix seconds>.<signature>`: what the link carries."""
    expires = int(expires_at.timestamp())
    return f"{confirmation_id.hex}.{expires}.{_sign(secret, confirmation_id, expires)}"


def read_token(secret: bytes, token: str, now: datetime) -> tuple[UUID | None, bool]:
    """(confirmation id, expired) of a genuine token; (None, False) for anything forged."""
    id_hex, _, rest = token.partition(".")
    expires_text, _, signature = rest.partition(".")
    if len(id_hex) != 32 or not expires_text.isdigit() or len(expires_text) > 12:
        return None, False
    try:
        confirmation_id = UUID(hex=id_hex)
    except ValueError:
        return None, False
    if not hmac.compare_digest(signature, _sign(secret, confirmation_id, int(expires_text))):
        return None, False
    return confirmation_id, int(expires_text) < now.timestamp()


def confirmation_mail(settings: CaptureSettings, to: str, consent: Consent, link: str
                      ) -> EmailMessage:
    """The mail asking the person to confirm what a form said they agreed to."""
    purposes = [_PURPOSES[p] for p in _PURPOSES if getattr(consent, p)]
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = "Please confirm your subscription"
    message["Message-ID"] = f"<{uuid.uuid4()}@leadloop.local>"
    wording = f'"{consent.text}"' if consent.text else "your consent"
    context = {"wording": wording, "purposes": ", ".join(purposes), "link": link}
    message.set_content(TEMPLATES.render("confirmation_mail.txt", **context))
    message.add_alternative(TEMPLATES.render("confirmation_mail.html", **context),
                            subtype="html")
    return message
