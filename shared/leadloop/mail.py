"""Sending mail over SMTP (aiosmtplib) with a service's MailingServiceSettings: one transaction
per call, telling who got it (the server answered 250 to DATA), who refused it for good (5xx,
not retried) and who to try again later. Outcomes' digest and capture's consent confirmations
send through it; nurture keeps a pool of connections for its volume (nurture.channels).
"""

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr

import aiosmtplib

from leadloop.settings import MailingServiceSettings


@dataclass
class Delivery:
    """What one SMTP attempt did for each recipient."""

    delivered: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # permanent (5xx): not retried
    pending: dict[str, str] = field(default_factory=dict)  # try again later, with the reason


async def send_mail(settings: MailingServiceSettings, message: EmailMessage,
                    recipients: list[str]) -> Delivery:
    """One SMTP transaction to `recipients`; who got it, who refused it, who to try again."""
    result = Delivery()
    client = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port,
                             timeout=settings.smtp_timeout_s, start_tls=settings.smtp_starttls)
    try:
        await client.connect()
        if settings.smtp_username and settings.smtp_password:
            await client.login(settings.smtp_username, settings.smtp_password)
        errors, _ = await client.send_message(message, sender=parseaddr(settings.mail_from)[1],
                                              recipients=recipients)
        for recipient in recipients:
            if (error := errors.get(recipient)) is None:
                result.delivered.append(recipient)
            elif 500 <= error.code < 600:
                result.refused[recipient] = f"{error.code} {error.message}"
            else:
                result.pending[recipient] = f"{error.code} {error.message}"
    except aiosmtplib.SMTPRecipientsRefused as exc:  # every recipient refused
        for refusal in exc.recipients:
            target = result.refused if 500 <= refusal.code < 600 else result.pending
            target[refusal.recipient] = f"{refusal.code} {refusal.message}"
    except aiosmtplib.SMTPResponseException as exc:  # e.g. the message refused at DATA
        target = result.refused if 500 <= exc.code < 600 else result.pending
        target.update(dict.fromkeys(recipients, f"{exc.code} {exc.message}"))
    except (aiosmtplib.SMTPException, OSError) as exc:  # no 250 to DATA: nobody got it
        result.pending.update(dict.fromkeys(recipients, f"{type(exc).__name__}: {exc}"))
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
    return result
