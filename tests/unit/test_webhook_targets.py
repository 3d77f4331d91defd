"""Webhooks (handoff's subscribers, nurture's channel adapters) reach public addresses only,
unless the allow-list names the network; the log keeps the status, never the answer's body."""

import uuid
from types import SimpleNamespace

import httpx
import pytest

from handoff.webhooks.worker import _attempt
from leadloop.webhooks import TargetRefused, check_target, new_secret, parse_networks
from nurture.sending import channels

pytestmark = pytest.mark.asyncio

INTERNAL = ["http://127.0.0.1:8080/hook", "http://localhost:5432/", "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data/", "http://[::1]:9000/",
            "http://[::ffff:127.0.0.1]/", "http://100.64.0.1/", "http://0.0.0.0:8003/",
            "http://192.168.1.10/", "https://172.16.0.1/"]
LOCAL = parse_networks("127.0.0.0/8,::1")


@pytest.mark.parametrize("url", INTERNAL)
async def test_subscriber_url_on_an_internal_address_is_refused(url: str) -> None:
    with pytest.raises(TargetRefused, match="not a public address"):
        await check_target(url, [])


async def test_public_address_is_reached_at_the_checked_address() -> None:
    target = await check_target("https://93.184.215.14:8443/hooks?x=1", [])
    url, host, extensions = target.pinned()
    assert str(url) == "https://93.184.215.14:8443/hooks?x=1"
    assert host == {"host": "93.184.215.14:8443"}
    assert extensions == {"sni_hostname": "93.184.215.14"}


async def test_allow_list_lets_local_receivers_through() -> None:
    target = await check_target("http://localhost:8080/hook", LOCAL)
    url, host, _ = target.pinned()
    assert url.host in ("127.0.0.1", "::1")
    assert host == {"host": "localhost:8080"}
    with pytest.raises(TargetRefused):
        await check_target("http://10.1.2.3/", LOCAL)


async def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(TargetRefused, match="does not resolve"):
        await check_target("http://no-such-host.invalid/", [])


def _answering(status: int, seen: list[httpx.Request]) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text="root:x:0:0:internal secret page")
    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


def _delivery(url: str) -> SimpleNamespace:
    return SimpleNamespace(id=str(uuid.uuid4()), url=url, body='{"a":1}',
                           secrets=[{"secret": new_secret(), "expires_at": None}])


async def test_delivery_to_an_internal_address_is_not_sent() -> None:
    seen: list[httpx.Request] = []
    async with _answering(200, seen) as client:
        code, error, _ = await _attempt(client, _delivery("http://127.0.0.1:5432/"), [])
    assert (code, seen) == (None, [])
    assert error is not None and error.startswith("target refused")


async def test_delivery_log_keeps_the_status_not_the_body() -> None:
    seen: list[httpx.Request] = []
    async with _answering(500, seen) as client:
        code, error, _ = await _attempt(client, _delivery("http://localhost:8080/h"), LOCAL)
    assert (code, error) == (500, "HTTP 500")
    assert seen[0].headers["host"] == "localhost:8080"


@pytest.mark.parametrize("url", INTERNAL)
async def test_nurture_channel_to_an_internal_address_is_not_sent(url: str) -> None:
    seen: list[httpx.Request] = []
    async with _answering(200, seen) as client:
        outcome = await channels.send_webhook(client, url, "s", {"message_id": "m1"})
    assert seen == []
    assert not outcome.ok and outcome.permanent
    assert outcome.error is not None and outcome.error.startswith("target refused")


async def test_nurture_channel_reaches_an_allowed_local_adapter() -> None:
    seen: list[httpx.Request] = []
    async with _answering(200, seen) as client:
        outcome = await channels.send_webhook(client, "http://localhost:8080/sms", "s",
                                              {"message_id": "m1"}, LOCAL)
    assert outcome.ok
    assert seen[0].url.host in ("127.0.0.1", "::1") and seen[0].headers["host"] == "localhost:8080"
