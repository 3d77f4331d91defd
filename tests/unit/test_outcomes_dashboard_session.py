"""The dashboard session cookie: signed with the secret, and dead after its expiry."""

import uuid
from datetime import UTC, datetime, timedelta

from leadloop.page_sessions import sign, verify

SECRET = b"k" * 32
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_cookie_verifies_until_it_expires() -> None:
    session_id = uuid.uuid4()
    cookie = sign(SECRET, session_id, NOW + timedelta(hours=8))
    verified = verify(SECRET, cookie, NOW)
    assert verified is not None and verified.session_id == session_id
    assert verify(SECRET, cookie, NOW + timedelta(hours=8)) is None


def test_cookie_of_another_secret_or_altered_is_refused() -> None:
    cookie = sign(SECRET, uuid.uuid4(), NOW + timedelta(hours=8))
    assert verify(b"other" * 8, cookie, NOW) is None
    session_id, expires, mac = cookie.split(".")
    assert verify(SECRET, f"{session_id}.{int(expires) + 3600}.{mac}", NOW) is None
    for junk in ("", "a.b", "a.b.c", "x" * 64, f"{session_id}.99999999999999999999.{mac}"):
        assert verify(SECRET, junk, NOW) is None
