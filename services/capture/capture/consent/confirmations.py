"""Double opt-in: consent a public form gives an address we already know counts only once the
person confirms it from a mail sent to that address.

Anyone can type anyone's address into a public form, so for a known lead the form's consent is
kept aside (a `consent_confirmations` row, written with the submission) and a background worker
mails the address a signed, expiring link (HMAC with FORM_TOKEN_SECRET; at most one pending
request per person per `consent_confirmation_every_hours`, so nobody can mail-bomb an address).
Opening the link (a public, per-IP rate-limited route) applies the consent through
capture.consent.service (lead.updated + lead.consent_changed); opening it again changes nothing.

The worker claims due rows with FOR UPDATE SKIP LOCKED, one short transaction per batch, so
replicas share the work; a mail counts as sent when the SMTP server answered 250 to its DATA,
a temporary failure is retried with backoff until the link would have expired.
"""

import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import text

from capture.config import CaptureSettings
from capture.consent.service import ConsentChange, change_consents
from leadloop import problems, ratelimit
from leadloop.app import Runtime, get_runtime, settings_of
from leadloop.events.models import Consent, event_time_now
from leadloop.mail import send_mail
from leadloop.templates import Templates
from leadloop.worker import run_worker

log = logging.getLogger(__name__)
# The confirmation mail and the pages its link opens (templates/, autoescaped).
TEMPLATES = Templates("capture")
MAX_RETRY_S = 3600.0
_PURPOSES = {"email_marketing": "product news and marketing email",
             "sales_contact": "being contacted by our sales team"}


@dataclass(frozen=True)
class ConfirmationRequest:
    """Consent a public form gave a known lead, to be confirmed by the person."""

    lead_id: UUID
    consent: Consent
    form_id: str | None
    submission_id: UUID


# --- the signed link ---------------------------------------------------------------------------


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


# --- queries ------------------------------------------------------------------------------------

_REQUEST = """
INSERT INTO consent_confirmations
  (id, lead_id, form_id, submission_id, consent, expires_at, next_attempt_at)
SELECT v.id, v.lead_id, v.form_id, v.submission_id, v.consent, now() + $6 * interval '1 hour',
       now()
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::jsonb[])
  AS v(id, lead_id, form_id, submission_id, consent)
WHERE NOT EXISTS (SELECT 1 FROM consent_confirmations c
                  WHERE c.lead_id = v.lead_id AND c.confirmed_at IS NULL
                    AND c.created_at > now() - $7 * interval '1 hour')"""


async def request_confirmations(db: asyncpg.Connection, requests: list[ConfirmationRequest],
                                settings: CaptureSettings) -> None:
    """Queue a confirmation mail per lead (one statement; the first request per lead wins, and
    none while one sent recently still waits)."""
    first: dict[UUID, ConfirmationRequest] = {}
    for r in requests:
        first.setdefault(r.lead_id, r)
    if not first:
        return
    rows = list(first.values())
    # Only what the form set: on confirmation these fields replace the stored ones.
    await db.execute(_REQUEST, [uuid.uuid4() for _ in rows], [r.lead_id for r in rows],
                     [r.form_id for r in rows], [r.submission_id for r in rows],
                     [orjson.dumps(r.consent.model_dump(mode="json", exclude_unset=True))
                      .decode() for r in rows],
                     settings.consent_confirmation_ttl_hours,
                     settings.consent_confirmation_every_hours)


_CLAIM_DUE = text("""
SELECT c.id, c.consent, c.expires_at, c.attempts, l.email
FROM consent_confirmations c JOIN leads l ON l.id = c.lead_id
WHERE c.next_attempt_at <= now() ORDER BY c.next_attempt_at LIMIT 20
FOR UPDATE OF c SKIP LOCKED""")
_SENT = text("UPDATE consent_confirmations SET sent_at = now(), next_attempt_at = NULL, "
             "attempts = attempts + 1, last_error = NULL WHERE id = :id")
_FAILED = text("UPDATE consent_confirmations SET next_attempt_at = :next, "
               "attempts = attempts + 1, last_error = :error WHERE id = :id")
_CLAIM_CONFIRMATION = text("SELECT lead_id, consent, confirmed_at FROM consent_confirmations "
                           "WHERE id = :id FOR UPDATE")
_CONFIRMED = text("UPDATE consent_confirmations SET confirmed_at = :now WHERE id = :id")


# --- the mail worker ----------------------------------------------------------------------------


async def send_due(runtime: Runtime) -> int:
    """Mail the confirmations that are due (a batch, in one transaction); how many were."""
    settings = settings_of(runtime, CaptureSettings)
    secret = settings.form_token_secret.encode()
    async with runtime.engine.begin() as conn:
        rows = (await conn.execute(_CLAIM_DUE)).all()
        for row in rows:
            link = (f"{settings.base_url}/v1/consent-confirmations/"
                    f"{confirmation_token(secret, row.id, row.expires_at)}")
            consent = Consent.model_validate(row.consent)
            result = await send_mail(settings, confirmation_mail(settings, row.email, consent,
                                                                 link), [row.email])
            if result.delivered:
                await conn.execute(_SENT, {"id": row.id})
                continue
            error = next(iter({**result.refused, **result.pending}.values()), "not sent")
            retry = timedelta(seconds=min(30.0 * 2 ** row.attempts, MAX_RETRY_S))
            # A refusal (5xx) or a link that would expire first: give up on this one.
            give_up = bool(result.refused) or event_time_now() + retry > row.expires_at
            log.warning("consent confirmation mail not sent (%s)%s", error[:200],
                        "; giving up" if give_up else "; retrying")
            await conn.execute(_FAILED, {"id": row.id, "error": error[:500],
                                         "next": None if give_up else event_time_now() + retry})
    return len(rows)


async def send_confirmations(runtime: Runtime) -> None:
    """Background worker: mail due confirmations, a batch at a time, polling when none are."""
    await run_worker(runtime, "consent-confirmations", send_due,
                     interval_s=settings_of(runtime, CaptureSettings)
                     .consent_mail_poll_interval_s)


# --- the link's target --------------------------------------------------------------------------

router = APIRouter(prefix="/v1", tags=["consent"])


def _page(request: Request, title: str, body: str, status_code: int = 200,
          headers: dict[str, str] | None = None) -> Response:
    """A small page for the person who clicked; an error is a problem document (RFC 9457)
    for any client that does not ask for HTML."""
    headers = {"Cache-Control": "no-store", **(headers or {})}
    if status_code >= 400 and "text/html" not in request.headers.get("accept", ""):
        return problems.problem_response(status_code, body, headers=headers)
    return HTMLResponse(TEMPLATES.render("page.html", title=title, message=body),
                        status_code=status_code, headers=headers)


@router.get("/consent-confirmations/{token}", response_class=HTMLResponse,
            responses={404: {"description": "not a valid link (or the person was erased)"},
                       410: {"description": "the link expired"}})
async def confirm_consent(token: str, request: Request,
                          runtime: Runtime = Depends(get_runtime)) -> Response:
    """The link in a consent confirmation mail (public, no key: the signature is the proof).
    The first visit records the consent; any later visit shows the same page and changes
    nothing."""
    settings = settings_of(runtime, CaptureSettings)
    ip = request.client.host if request.client else "unknown"
    wait = await ratelimit.hit(runtime.engine, [
        ratelimit.Limit(f"confirm:ip:{ip}", settings.public_per_ip_per_minute)])
    if wait:
        return _page(request, "Too many requests", "Please try again in a minute.", 429,
                     {"Retry-After": str(wait)})
    now = event_time_now()
    confirmation_id, expired = read_token(settings.form_token_secret.encode(), token[:200], now)
    if confirmation_id is None:
        return _page(request, "Link not valid", "This confirmation link is broken.", 404)
    async with runtime.unit_of_work() as uow:
        row = (await uow.connection.execute(_CLAIM_CONFIRMATION,
                                            {"id": confirmation_id})).one_or_none()
        if row is None:
            return _page(request, "Link not valid",
                         "This confirmation link is no longer valid.", 404)
        if row.confirmed_at is None:
            if expired:
                return _page(request, "Link expired", "This confirmation link has expired; "
                             "submit the form again to get a new one.", 410)
            await _apply(uow, row, now)
            await uow.connection.execute(_CONFIRMED, {"id": confirmation_id, "now": now})
            await uow.commit()
    return _page(request, "Thank you", "Your consent is confirmed.")


async def _apply(uow: Any, row: Any, now: datetime) -> None:
    """The form's consent, as given now (the moment it became valid)."""
    consent = Consent.model_validate({**row.consent, "given_at": now})
    await change_consents(uow, [ConsentChange(row.lead_id, consent)], now)
