"""Signed links in emails: the open pixel, click redirects and unsubscribe. No I/O.

A link carries the message id and an HMAC over it (and the link's number, for clicks), so nobody
can forge opens or unsubscribe someone else. A click redirects only to the target stored with
the message under that number: the link carries no URL, so it cannot become an open redirect.
"""

import base64
import hashlib
import hmac
from uuid import UUID

_SIG_BYTES = 12


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, *parts: str) -> bytes:
    return hmac.new(secret.encode(), "\x1f".join(parts).encode(), hashlib.sha256).digest()[
        :_SIG_BYTES]


def message_token(secret: str, purpose: str, message_id: UUID) -> str:
    """A token naming `message_id`, valid for `purpose` (open, unsubscribe) only."""
    return _b64(message_id.bytes + _mac(secret, purpose, str(message_id)))


def read_token(secret: str, purpose: str, token: str) -> UUID | None:
    """The message id in a valid token, or None."""
    try:
        raw = _unb64(token)
    except (ValueError, TypeError):
        return None
    if len(raw) != 16 + _SIG_BYTES:
        return None
    message_id = UUID(bytes=raw[:16])
    if not hmac.compare_digest(raw[16:], _mac(secret, purpose, str(message_id))):
        return None
    return message_id


def click_token(secret: str, message_id: UUID, link: int) -> str:
    """A token naming link number `link` of message `message_id` (its target is stored with
    the message, never carried in the link, so no link can point anywhere else)."""
    return _b64(message_id.bytes + link.to_bytes(2, "big")
                + _mac(secret, "click", str(message_id), str(link)))


def read_click_token(secret: str, token: str) -> tuple[UUID, int] | None:
    """The message id and link number in a valid click token, or None."""
    try:
        raw = _unb64(token)
    except (ValueError, TypeError):
        return None
    if len(raw) != 16 + 2 + _SIG_BYTES:
        return None
    message_id, link = UUID(bytes=raw[:16]), int.from_bytes(raw[16:18], "big")
    if not hmac.compare_digest(raw[18:], _mac(secret, "click", str(message_id), str(link))):
        return None
    return message_id, link
