"""When a failed webhook delivery is tried again, and when it is given up. Pure, no I/O.

(Signing and target checks are the shared leadloop.webhooks.)
"""

import random
from datetime import datetime, timedelta


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
