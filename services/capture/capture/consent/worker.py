"""The double opt-in mail worker: mails due confirmations, a batch per transaction.

It claims due rows with FOR UPDATE SKIP LOCKED, one short transaction per batch, so replicas
share the work; a mail counts as sent when the SMTP server answered 250 to its DATA, a
temporary failure is retried with backoff until the link would have expired.
"""

import logging
from datetime import timedelta

from capture.config import CaptureSettings
from capture.consent import repository
from capture.consent.domain import confirmation_mail, confirmation_token
from leadloop.app import Runtime, settings_of
from leadloop.events.models import event_time_now
from leadloop.mail import send_mail
from leadloop.worker import run_worker

log = logging.getLogger(__name__)
MAX_RETRY_S = 3600.0


async def send_due(runtime: Runtime) -> int:
    """Mail the confirmations that are due (a batch, in one transaction); how many were."""
    settings = settings_of(runtime, CaptureSettings)
    secret = settings.form_token_secret.encode()
    async with runtime.engine.begin() as conn:
        due = await repository.claim_due(conn)
        for mail in due:
            link = (f"{settings.base_url}/v1/consent-confirmations/"
                    f"{confirmation_token(secret, mail.id, mail.expires_at)}")
            result = await send_mail(settings, confirmation_mail(settings, mail.email,
                                                                 mail.consent, link),
                                     [mail.email])
            if result.delivered:
                await repository.mark_sent(conn, mail.id)
                continue
            error = next(iter({**result.refused, **result.pending}.values()), "not sent")
            retry = timedelta(seconds=min(30.0 * 2 ** mail.attempts, MAX_RETRY_S))
            # A refusal (5xx) or a link that would expire first: give up on this one.
            give_up = bool(result.refused) or event_time_now() + retry > mail.expires_at
            log.warning("consent confirmation mail not sent (%s)%s", error[:200],
                        "; giving up" if give_up else "; retrying")
            await repository.mark_failed(conn, mail.id, error[:500],
                                         None if give_up else event_time_now() + retry)
    return len(due)


async def send_confirmations(runtime: Runtime) -> None:
    """Background worker: mail due confirmations, a batch at a time, polling when none are."""
    await run_worker(runtime, "consent-confirmations", send_due,
                     interval_s=settings_of(runtime, CaptureSettings)
                     .consent_mail_poll_interval_s)
