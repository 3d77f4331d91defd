"""Where webhooks may go: public addresses only, unless the allow-list names the network.

A subscriber's URL is checked when it is set and again, resolved afresh, before every attempt;
the attempt then connects to the address that was checked (not a second lookup), so a name
that resolves to a public address at the check and to 127.0.0.1 a moment later reaches
nothing. Loopback, private, link-local (cloud metadata), shared, multicast and reserved
addresses are refused unless WEBHOOK_ALLOWED_NETWORKS lists them (development and tests).
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(Exception):
    """The URL's host is not a public address (nor in the allow-list), or does not resolve."""


def parse_networks(value: str) -> list[Network]:
    """Comma-separated CIDRs or addresses (127.0.0.0/8, ::1) as networks; ValueError if bad."""
    return [ipaddress.ip_network(part.strip(), strict=False)
            for part in value.split(",") if part.strip()]


def refusal(address: Address, allowed: list[Network]) -> str | None:
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


async def check_target(url: str, allowed: list[Network]) -> Target:
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
        raise TargetRefused(f"{host} does not resolve") from exc
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0])
                                   for info in infos))
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    return addresses


async def post_to_target(client: httpx.AsyncClient, target: Target, content: bytes,
                         headers: dict[str, str]) -> httpx.Response:
    """POST to the checked address, with the URL's own Host header and TLS server name."""
    url, host, extensions = target.pinned()
    return await client.post(url, content=content, headers=headers | host,
                             extensions=extensions, follow_redirects=False)
