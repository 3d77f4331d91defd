"""The session cookie of LeadLoop's pages (outcomes' dashboard, handoff's sales page):
`<session id>.<expiry, unix s>.<HMAC-SHA256 of both>`.

The HMAC key is the service's session secret setting (random per process when unset: sessions
then end at a restart and do not cross replicas). The cookie holds nothing derived from the API
key, so key hashes cannot be turned into a cookie; a forged, altered or expired cookie fails
here, a signed-out one when its session row is gone (each service keeps its sessions' rows, in a
table `page_sessions_table` declares).
`csrf_token` derives a form token from the session, which a page puts in its forms and checks
on every POST (SameSite=Strict already keeps other sites' posts from carrying the cookie).
"""

import base64
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Index, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID
from starlette.datastructures import State

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionCookie:
    """A verified cookie: which session, until when."""

    session_id: uuid.UUID
    expires_at: datetime


def session_secret(configured: str, app_state: State, setting: str) -> bytes:
    """The signing key: the configured one, else one random key for this process (`setting`
    names the environment variable, for the warning)."""
    if configured:
        return configured.encode()
    random_key: bytes | None = getattr(app_state, "page_session_secret", None)
    if random_key is None:
        log.warning("%s is not set: page sessions end when this process stops and do not work "
                    "across replicas", setting)
        random_key = secrets.token_bytes(32)
        app_state.page_session_secret = random_key
    return random_key


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: bytes, session_id: uuid.UUID, expires_at: datetime) -> str:
    """The cookie value for a session."""
    payload = f"{session_id.hex}.{int(expires_at.timestamp())}"
    return f"{payload}.{_mac(secret, payload)}"


def verify(secret: bytes, value: str, now: datetime) -> SessionCookie | None:
    """The session a cookie names, or None when it is forged, altered, malformed or expired."""
    parts = value.split(".")
    if len(parts) != 3 or not hmac.compare_digest(_mac(secret, f"{parts[0]}.{parts[1]}"),
                                                  parts[2]):
        return None
    try:
        session_id = uuid.UUID(hex=parts[0])
        expires_at = datetime.fromtimestamp(int(parts[1]), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return SessionCookie(session_id, expires_at) if now < expires_at else None


def csrf_token(secret: bytes, session_id: uuid.UUID) -> str:
    """The token a session's forms carry; only a page rendered for this session knows it."""
    return _mac(secret, f"csrf.{session_id.hex}")


def csrf_ok(secret: bytes, session_id: uuid.UUID, token: str) -> bool:
    """Whether a posted form token is this session's."""
    return hmac.compare_digest(csrf_token(secret, session_id), token)


def page_sessions_table(metadata: MetaData, name: str, key_column: str) -> Table:
    """A service's sessions: one row per sign-in, named by the cookie's session id, holding
    what the service keeps of the API key signed in with (`key_column`) until the expiry; the
    expired rows are purged at each sign-in through the index."""
    return Table(
        name,
        metadata,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column(key_column, Text, nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index(f"{name}_expiry", "expires_at"),
    )
