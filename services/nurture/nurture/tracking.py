"""Signed links in emails: the open pixel, click redirects and unsubscribe. No I/O.

A link carries the message id and an HMAC over it (and the target URL, for clicks), so nobody
can forge opens, unsubscribe someone else or turn the redirect into an open redirect.
"""

import base64
import hashlib
import hmac
from urllib.parse import urlencode
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


def click_query(secret: str, message_id: UUID, url: str) -> str:
    """The query string of a click redirect to `url`."""
    return urlencode({"m": str(message_id), "u": url,
                      "s": _b64(_mac(secret, "click", str(message_id), url))})


def click_valid(secret: str, message_id: UUID, url: str, signature: str) -> bool:
    """Whether a click redirect's signature matches its message and target."""
    try:
        given = _unb64(signature)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(given, _mac(secret, "click", str(message_id), url))
