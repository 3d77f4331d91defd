"""Delivery: email over SMTP (aiosmtplib, a small connection pool) and signed webhooks to the
other channels' adapters."""

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosmtplib
import httpx

from leadloop.mail import smtp_mailbox
from leadloop.tracing import client_request
from leadloop.webhooks import Network, TargetRefused, check_target, headers_for, post_to_target
from nurture.config import NurtureSettings
from nurture.sending.mail import OutgoingEmail


@dataclass(frozen=True)
class Outcome:
    """How one delivery went: sent, refused for good (bounce), failed for now, or not sent at
    all for a reason of the message's own (`skipped`: e.g. an SMS over the segment limit)."""

    ok: bool
    permanent: bool = False
    error: str | None = None
    skipped: str | None = None


class SmtpPool:
    """A few long-lived SMTP connections, each used by one send at a time."""

    def __init__(self, settings: NurtureSettings) -> None:
        self._settings = settings
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(settings.smtp_connections):
            self._idle.put_nowait(None)  # connected lazily

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, timeout=s.smtp_timeout_s,
                                 start_tls=s.smtp_starttls)
        await client.connect()
        if s.smtp_username and s.smtp_password:
            await client.login(s.smtp_username, s.smtp_password)
        return client

    async def send(self, message: OutgoingEmail) -> Outcome:
        """Send one message; a 5xx refusal is permanent (bounce), anything else is retried."""
        client = await self._idle.get()
        try:
            if client is None or not client.is_connected:
                client = await self._connect()
            recipient = smtp_mailbox(message.recipient)
            # An address with a non-ASCII local part needs SMTPUTF8 (RFC 6531), which most
            # servers offer; one that does not can never take it (a permanent refusal below).
            options = [] if recipient.isascii() else ["SMTPUTF8"]
            await client.sendmail(message.sender, [recipient], message.data,
                                  mail_options=options)
            return Outcome(ok=True)
        except aiosmtplib.SMTPNotSupported as exc:
            return Outcome(ok=False, permanent=True, error=f"the mail server cannot take this "
                           f"address: {exc}")
        except aiosmtplib.SMTPRecipientsRefused as exc:
            permanent = all(500 <= r.code < 600 for r in exc.recipients)
            return Outcome(ok=False, permanent=permanent, error=str(exc))
        except aiosmtplib.SMTPResponseException as exc:
            return Outcome(ok=False, permanent=500 <= exc.code < 600, error=str(exc))
        except ValueError as exc:
            # Not an address any server could take: a domain IDNA cannot spell, or characters
            # aiosmtplib will not put on a RCPT line (they could inject a command).
            return Outcome(ok=False, permanent=True, error=f"not a deliverable address: {exc}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            client = None  # broken: reconnect next time
            return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}")
        finally:
            self._idle.put_nowait(client)

    async def close(self) -> None:
        """Say QUIT on every open connection."""
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    pass


async def send_webhook(client: httpx.AsyncClient, url: str, secret: str,
                       payload: dict[str, Any], allowed: Sequence[Network] = ()) -> Outcome:
    """POST a message to a channel adapter (SMS, voice, direct mail, fax), signed per Standard
    Webhooks (leadloop.webhooks, as handoff signs): webhook-id is the message id, stable across
    retries, so the adapter drops a repeat. Only public addresses, or those in `allowed`."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    message_id = str(payload["message_id"])
    headers = headers_for([secret], message_id, int(time.time()), body)
    headers["Idempotency-Key"] = message_id  # for adapters that dedupe on this header instead
    try:
        target = await check_target(url, allowed)
    except TargetRefused as exc:
        return Outcome(ok=False, permanent=exc.permanent, error=f"target refused: {exc}"[:200])
    try:
        with client_request("POST", url) as trace_headers:
            response = await post_to_target(client, target, body, headers | trace_headers)
    except httpx.HTTPError as exc:
        # The class only: the message log must not carry what an internal host said.
        return Outcome(ok=False, error=type(exc).__name__)
    if response.is_success:
        return Outcome(ok=True)
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
    return Outcome(ok=False, permanent=permanent, error=f"HTTP {response.status_code}")
