"""Per-IP and per-form rate limits: token buckets (a minute's allowance) kept in this process."""

import math
import time
from collections import OrderedDict

_MAX_KEYS = 100_000


class RateLimiter:
    """A bucket per key holding up to `limit` hits that refills at `limit` per minute."""

    def __init__(self) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def hit(self, key: str, limit: int, now_s: float | None = None) -> int:
        """Take one hit; 0 when allowed, else whole seconds until one is available."""
        now = time.monotonic() if now_s is None else now_s
        rate = limit / 60.0
        tokens, last = self._buckets.get(key, (float(limit), now))
        tokens = min(float(limit), tokens + (now - last) * rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > _MAX_KEYS:
            self._buckets.popitem(last=False)
        return 0 if allowed else max(1, math.ceil((1.0 - tokens) / rate))
