"""Outgoing webhooks, the one way every service sends them: Standard Webhooks signatures and
the target checks (public addresses only, the request pinned to the address checked). No state.

Signing (https://www.standardwebhooks.com/): the signed content is
"<webhook-id>.<webhook-timestamp>.<body>", HMAC-SHA256, sent as "v1,<base64>"; several
signatures (during a secret rotation) are separated by spaces. A secret written "whsec_<base64>"
signs with the bytes the base64 decodes to (what the standard's libraries do with such a
string); any other secret signs with its UTF-8 bytes (a receiver using the `standardwebhooks`
library passes it as bytes: `Webhook(secret.encode())`).

Targets: a URL is checked when it is set and again, resolved afresh, before every request; the
request then connects to the address that was checked (not a second lookup), so a name that
resolves to a public address at the check and to 127.0.0.1 a moment later reaches nothing.
Loopback, private, link-local (cloud metadata), shared, multicast and reserved addresses are
refused unless the service's allow-list names the network (development and tests only).
"""

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

SECRET_PREFIX = "whsec_"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- signing --------------------------------------------------------------------------------


def new_secret() -> str:
    """A fresh signing secret: "whsec_" and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: the decoded base64 after "whsec_", else its UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error as exc:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from exc
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """The "v1,<signature>" of one message under one secret."""
    content = body.encode() if isinstance(body, str) else body
    digest = hmac.new(signing_key(secret), f"{msg_id}.{timestamp}.".encode() + content,
                      hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_in_use: Sequence[str], msg_id: str, timestamp: int,
                     body: str | bytes) -> str:
    """The webhook-signature header: one signature per valid secret, newest first."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_in_use)


def headers_for(secrets_in_use: Sequence[str], msg_id: str, timestamp: int,
                body: str | bytes) -> dict[str, str]:
    """The headers of one delivery attempt (webhook-id doubles as the idempotency key)."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets_in_use, msg_id, timestamp, body),
            "content-type": "application/json"}


# --- targets --------------------------------------------------------------------------------


class TargetRefused(Exception):
    """The URL's host is not a public address (nor in the allow-list), or does not resolve.
    `permanent` is False when the name did not resolve (DNS may answer later)."""

    def __init__(self, reason: str, permanent: bool = True) -> None:
        super().__init__(reason)
        self.permanent = permanent


def parse_networks(value: str) -> list[Network]:
    """Comma-separated CIDRs or addresses (127.0.0.0/8, ::1) as networks; ValueError if bad."""
    return [ipaddress.ip_network(part.strip(), strict=False)
            for part in value.split(",") if part.strip()]


def refusal(address: Address, allowed: Sequence[Network]) -> str | None:
    """Why a webhook may not connect to `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return None
    if address.is_global and not address.is_multicast:
        return None
    return f"{address} is not a public address"


@dataclass(frozen=True)
class Target:
    """A checked URL: the address to connect to, and the host name the request carries."""

    url: httpx.URL
    address: Address

    def pinned(self) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
        """URL with the checked address as host, the Host header and the TLS server name."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        url = self.url.copy_with(host=host)
        host_header = self.url.netloc.decode("ascii")
        extensions = {"sni_hostname": self.url.host} if self.url.scheme == "https" else {}
        return url, {"host": host_header}, extensions


async def check_target(url: str, allowed: Sequence[Network]) -> Target:
    """Resolve the URL's host; TargetRefused unless every address it has may be reached."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise TargetRefused("not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise TargetRefused("must be an http or https URL with a host")
    try:
        addresses = [ipaddress.ip_address(parsed.host)]
    except ValueError:
        addresses = await _resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https"
                                                                 else 80))
    problems = [problem for a in addresses if (problem := refusal(a, allowed))]
    if problems:
        # Every address must pass: a client may connect to any of them.
        raise TargetRefused(f"{parsed.host} resolves to a refused address: {problems[0]}")
    return Target(parsed, addresses[0])


async def _resolve(host: str, port: int) -> list[Address]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"{host} does not resolve", permanent=False) from exc
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0])
                                   for info in infos))
    if not addresses:
        raise TargetRefused(f"{host} does not resolve", permanent=False)
    return addresses


async def post_to_target(client: httpx.AsyncClient, target: Target, content: bytes,
                         headers: dict[str, str]) -> httpx.Response:
    """POST to the checked address, with the URL's own Host header and TLS server name."""
    url, host, extensions = target.pinned()
    return await client.post(url, content=content, headers=headers | host,
                             extensions=extensions, follow_redirects=False)
