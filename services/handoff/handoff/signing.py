"""Standard Webhooks signing and the retry schedule, pure. No I/O.

https://www.standardwebhooks.com/: the signed content is "<webhook-id>.<webhook-timestamp>.<body>",
HMAC-SHA256 with the base64 secret after its "whsec_" prefix, sent as "v1,<base64>"; several
signatures (during a secret rotation) are separated by spaces.
"""

import base64
import hashlib
import hmac
import random
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret: "whsec_" and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The "v1,<signature>" of one message under one secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_in_use: Sequence[str], msg_id: str, timestamp: int,
                     body: str) -> str:
    """The webhook-signature header: one signature per valid secret, newest first."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_in_use)


def headers_for(secrets_in_use: Sequence[str], msg_id: str, timestamp: int,
                body: str) -> dict[str, str]:
    """The headers of one delivery attempt."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets_in_use, msg_id, timestamp, body),
            "content-type": "application/json"}


def retry_delay(attempt: int, base: timedelta, cap: timedelta,
                rng: random.Random | None = None) -> timedelta:
    """Wait before attempt `attempt + 1`: exponential from `base`, capped, with full jitter
    in the upper half (so a receiver that comes back is not hit by every sender at once)."""
    exponential = min(base * (2 ** max(attempt - 1, 0)), cap)
    factor = 0.5 + 0.5 * (rng or random).random()
    return exponential * factor


def gives_up(first_attempt_at: datetime, now: datetime, window: timedelta) -> bool:
    """Whether a message has been retried for as long as it may be (24 h by default)."""
    return now - first_attempt_at >= window
