"""Sending mail over SMTP (aiosmtplib) with a service's MailingServiceSettings: one transaction
per call, telling who got it (the server answered 250 to DATA), who refused it for good (5xx,
not retried) and who to try again later. Outcomes' digest and capture's consent confirmations
send through it; nurture keeps a pool of connections for its volume (nurture.channels). Both
put an address on the RCPT line as `smtp_mailbox` spells it.
"""

import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr

import aiosmtplib

from leadloop.settings import MailingServiceSettings

# What ends an address on an SMTP command line (or starts a new command): whitespace, control
# characters, <>". aiosmtplib refuses these with a ValueError; here they are a refusal. Spelled
# as ranges as well as \s: pydantic's regex engine (Rust) and Python's re disagree on what \s
# covers (\x1c-\x1f), and HTTP models check addresses with pydantic (MAILBOX_PATTERN).
NOT_IN_A_MAILBOX = r'\s<>"\x00-\x20\x7f-\x9f'
_NOT_IN_A_MAILBOX = re.compile(f"[{NOT_IN_A_MAILBOX}]")
_MAILBOX_CHAR = f"[^@{NOT_IN_A_MAILBOX}]"
MAILBOX_PATTERN = rf"^{_MAILBOX_CHAR}+@{_MAILBOX_CHAR}+\.{_MAILBOX_CHAR}+$"
"""One mailbox an SMTP server can be asked to deliver to (local@domain.tld), as a pydantic
`pattern`: what `smtp_mailbox` takes, apart from the domain's IDNA check."""


def smtp_mailbox(address: str) -> str:
    """The address as it goes on the RCPT line: an internationalized domain in its ASCII (IDNA)
    form, which every server takes; the local part as written (non-ASCII needs SMTPUTF8).
    ValueError, with the reason, for an address no server could be asked to deliver to."""
    if _NOT_IN_A_MAILBOX.search(address):
        raise ValueError("the address holds a space, a control character or one of <>\"")
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as exc:
        raise ValueError(f"the domain cannot be spelled in ASCII (IDNA): {exc}") from exc


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
    wire: dict[str, str] = {}  # RCPT form -> the address as the caller named it
    for recipient in recipients:
        try:
            wire[smtp_mailbox(recipient)] = recipient
        except ValueError as exc:
            result.refused[recipient] = f"not a deliverable address: {exc}"
    if not wire:
        return result
    client = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port,
                             timeout=settings.smtp_timeout_s, start_tls=settings.smtp_starttls)
    try:
        await client.connect()
        if settings.smtp_username and settings.smtp_password:
            await client.login(settings.smtp_username, settings.smtp_password)
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()  # the server's extensions are known from here on
        if not client.supports_extension("smtputf8"):
            # A non-ASCII name before the @ needs SMTPUTF8: this server can never take it.
            for address in [a for a in wire if not a.isascii()]:
                result.refused[wire.pop(address)] = \
                    "the mail server does not take non-ASCII addresses (no SMTPUTF8)"
            if not wire:
                return result
        errors, _ = await client.send_message(message, sender=parseaddr(settings.mail_from)[1],
                                              recipients=list(wire))
        for address, recipient in wire.items():
            if (error := errors.get(address)) is None:
                result.delivered.append(recipient)
            elif 500 <= error.code < 600:
                result.refused[recipient] = f"{error.code} {error.message}"
            else:
                result.pending[recipient] = f"{error.code} {error.message}"
    except aiosmtplib.SMTPRecipientsRefused as exc:  # every recipient refused
        for refusal in exc.recipients:
            target = result.refused if 500 <= refusal.code < 600 else result.pending
            target[wire.get(refusal.recipient, refusal.recipient)] = \
                f"{refusal.code} {refusal.message}"
    except aiosmtplib.SMTPResponseException as exc:  # e.g. the message refused at DATA
        target = result.refused if 500 <= exc.code < 600 else result.pending
        target.update(dict.fromkeys(wire.values(), f"{exc.code} {exc.message}"))
    except aiosmtplib.SMTPNotSupported as exc:  # a non-ASCII name, and no SMTPUTF8: never
        result.refused.update(dict.fromkeys(wire.values(), f"the mail server cannot take "
                                                           f"this address: {exc}"))
    except (aiosmtplib.SMTPException, OSError) as exc:  # no 250 to DATA: nobody got it
        result.pending.update(dict.fromkeys(wire.values(), f"{type(exc).__name__}: {exc}"))
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
    return result
