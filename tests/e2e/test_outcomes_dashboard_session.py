"""The dashboard's session: a signed, expiring cookie that sign-out ends for good; the
configured key hash is not a cookie."""

import httpx
import pytest

from leadloop.auth import hash_key
from leadloop_devstack.stack import Stack

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.e2e]

COOKIE = "leadloop_dashboard"


async def _opens(stack: Stack, cookie: str) -> bool:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(f"{stack.url('outcomes')}/dashboard",
                                headers={"cookie": f"{COOKIE}={cookie}"})
    return answer.status_code == 200


async def _sign_in(stack: Stack, key: str) -> tuple[str, int]:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(f"{stack.url('outcomes')}/dashboard/login",
                                 data={"api_key": key})
    assert answer.status_code == 303, answer.text
    set_cookie = answer.headers["set-cookie"]
    value = set_cookie.split(";")[0].split("=", 1)[1]
    max_age = int(set_cookie.lower().split("max-age=")[1].split(";")[0])
    return value, max_age


async def test_configured_key_hash_does_not_open_the_dashboard(
        stack: Stack, scoped_keys: dict[str, str]) -> None:
    for key in (stack.admin_key, scoped_keys["reports:read"]):
        assert not await _opens(stack, hash_key(key))


async def test_session_cookie_is_signed_expiring_and_names_no_key(
        stack: Stack, scoped_keys: dict[str, str]) -> None:
    key = scoped_keys["reports:read"]
    cookie, max_age = await _sign_in(stack, key)
    assert 0 < max_age <= 8 * 3600
    assert hash_key(key) not in cookie and key not in cookie
    assert await _opens(stack, cookie)
    session_id, expires, mac = cookie.split(".")
    # A later expiry, or any other change, breaks the signature.
    assert not await _opens(stack, f"{session_id}.{int(expires) + 86400}.{mac}")
    assert not await _opens(stack, f"{session_id}.{expires}.{mac[:-2]}AA")


async def test_sign_out_ends_the_session_even_for_a_copied_cookie(
        stack: Stack, scoped_keys: dict[str, str]) -> None:
    cookie, _ = await _sign_in(stack, scoped_keys["reports:read"])
    other, _ = await _sign_in(stack, scoped_keys["reports:read"])
    assert await _opens(stack, cookie)
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(f"{stack.url('outcomes')}/dashboard/logout",
                                 headers={"cookie": f"{COOKIE}={cookie}"})
    assert answer.status_code == 303
    assert not await _opens(stack, cookie)
    assert await _opens(stack, other)  # only that session ended
