"""Delivery: email over SMTP (aiosmtplib, a small connection pool) and signed webhooks."""

import asyncio
import hashlib
import hmac
import ipaddress
import json
import os
import socket
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import aiosmtplib
import httpx

from leadloop.tracing import client_request
from nurture.config import NurtureSettings
from nurture.mail import OutgoingEmail


@dataclass(frozen=True)
class Outcome:
    """How one delivery went: sent, refused for good (bounce), or failed for now."""

    ok: bool
    permanent: bool = False
    error: str | None = None


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
            await client.sendmail(message.sender, [message.recipient], message.data)
            return Outcome(ok=True)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            permanent = all(500 <= r.code < 600 for r in exc.recipients)
            return Outcome(ok=False, permanent=permanent, error=str(exc))
        except aiosmtplib.SMTPResponseException as exc:
            return Outcome(ok=False, permanent=500 <= exc.code < 600, error=str(exc))
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


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as the adapter recomputes it."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


# A webhook channel's URL must resolve to public addresses, checked before every request, and
# the request goes to the address checked. Networks in this variable (comma-separated CIDRs,
# e.g. 127.0.0.0/8,::1 for local adapters) are allowed too: development and tests only.
ALLOWED_NETWORKS_ENV = "LEADLOOP_NURTURE_WEBHOOK_ALLOWED_NETWORKS"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The adapter's host is not a public address (nor allowed), or does not resolve."""

    def __init__(self, reason: str, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


@lru_cache(maxsize=1)
def allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks webhook channels may reach besides public addresses (read once)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in os.environ.get(ALLOWED_NETWORKS_ENV, "").split(",")
                 if part.strip())


def address_refusal(address: Address) -> str | None:
    """Why a webhook channel may not connect to `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed_networks()):
        return None
    if address.is_global and not address.is_multicast:
        return None
    return f"{address} is not a public address"


async def checked_address(url: httpx.URL) -> Address:
    """The address to connect to; TargetRefused unless every address of the host may be
    reached."""
    if url.scheme not in ("http", "https") or not url.host:
        raise TargetRefused("the adapter URL must be http or https with a host", permanent=True)
    try:
        addresses: list[Address] = [ipaddress.ip_address(url.host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                url.host, url.port or (443 if url.scheme == "https" else 80),
                type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise TargetRefused(f"{url.host} does not resolve", permanent=False) from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0])
                                       for info in infos))
    problems = [problem for a in addresses if (problem := address_refusal(a))]
    if problems or not addresses:
        reason = problems[0] if problems else "no address"
        raise TargetRefused(f"{url.host} resolves to a refused address: {reason}",
                            permanent=True)
    return addresses[0]


async def send_webhook(client: httpx.AsyncClient, url: str, secret: str,
                       payload: dict[str, Any]) -> Outcome:
    """POST a message to a channel adapter (SMS, voice, direct mail, fax), signed."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"content-type": "application/json",
               "X-LeadLoop-Signature": webhook_signature(secret, int(time.time()), body),
               "Idempotency-Key": str(payload["message_id"])}
    try:
        target = httpx.URL(url)
        address = await checked_address(target)
    except httpx.InvalidURL:
        return Outcome(ok=False, permanent=True, error="target refused: not a valid URL")
    except TargetRefused as exc:
        return Outcome(ok=False, permanent=exc.permanent, error=f"target refused: {exc}"[:200])
    # Connect to the address just checked (no second lookup), naming the host as the URL does.
    pinned = target.copy_with(host=f"[{address}]" if address.version == 6 else str(address))
    headers["host"] = target.netloc.decode("ascii")
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with client_request("POST", url) as trace_headers:
            response = await client.post(pinned, content=body, headers=headers | trace_headers,
                                         extensions=extensions, follow_redirects=False)
    except httpx.HTTPError as exc:
        # The class only: the message log must not carry what an internal host said.
        return Outcome(ok=False, error=type(exc).__name__)
    if response.is_success:
        return Outcome(ok=True)
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
    return Outcome(ok=False, permanent=permanent, error=f"HTTP {response.status_code}")
