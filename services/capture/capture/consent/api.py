"""Double opt-in: consent a public form gives an address we already know counts only once the
person confirms it from a mail sent to that address.

Anyone can type anyone's address into a public form, so for a known lead the form's consent is
kept aside (a `consent_confirmations` row, written with the submission) and a background worker
(capture.consent.worker) mails the address a signed, expiring link (HMAC with
FORM_TOKEN_SECRET; at most one pending request per person per
`consent_confirmation_every_hours`, so nobody can mail-bomb an address). Opening the link (this
public, per-IP rate-limited route) applies the consent through capture.consent.service
(lead.updated + lead.consent_changed); opening it again changes nothing.
"""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from capture.config import CaptureSettings
from capture.consent import repository
from capture.consent.domain import TEMPLATES, read_token
from capture.consent.service import ConsentChange, change_consents
from leadloop import problems, ratelimit
from leadloop.app import Runtime, get_runtime, settings_of
from leadloop.events.models import Consent, event_time_now

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
        confirmation = await repository.lock_confirmation(uow.connection, confirmation_id)
        if confirmation is None:
            return _page(request, "Link not valid",
                         "This confirmation link is no longer valid.", 404)
        if confirmation.confirmed_at is None:
            if expired:
                return _page(request, "Link expired", "This confirmation link has expired; "
                             "submit the form again to get a new one.", 410)
            # The form's consent, as given now (the moment it became valid).
            consent = Consent.model_validate({**confirmation.consent, "given_at": now})
            await change_consents(uow, [ConsentChange(confirmation.lead_id, consent)], now)
            await repository.mark_confirmed(uow.connection, confirmation_id, now)
            await uow.commit()
    return _page(request, "Thank you", "Your consent is confirmed.")
