"""Rate limits shared by every replica (capture's public form routes, nurture's pixel, click
and unsubscribe routes): a sliding window per key in
PostgreSQL (one statement per request counts the hit in this minute's window and reads the
previous minute's), as Cloudflare's rate limiter approximates a sliding log.

A service that limits declares `rate_limit_windows_table` in its tables and keeps it in its own
migrations."""

import math
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, text
from sqlalchemy.ext.asyncio import AsyncEngine

WINDOW_S = 60.0


def rate_limit_windows_table(metadata: MetaData) -> Table:
    """The table the limiter counts in: hits per key and minute."""
    return Table(
        "rate_limit_windows",
        metadata,
        Column("key", Text, primary_key=True),
        Column("window_start", DateTime(timezone=True), primary_key=True),
        Column("hits", Integer, nullable=False),
    )

# Count this hit in the current minute's window and read the previous minute's count. The keys
# are upserted in sorted order, so two requests sharing keys never deadlock.
_HIT = text("""
WITH clock AS (
    SELECT date_trunc('minute', now()) AS window_start,
           extract(epoch FROM now() - date_trunc('minute', now())) AS into_window_s
), counted AS (
    INSERT INTO rate_limit_windows (key, window_start, hits)
    SELECT k, clock.window_start, 1 FROM clock, unnest(CAST(:keys AS text[])) AS k ORDER BY k
    ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_windows.hits + 1
    RETURNING key, hits
)
SELECT counted.key, counted.hits, coalesce(previous.hits, 0) AS previous_hits,
       clock.into_window_s
FROM counted CROSS JOIN clock
LEFT JOIN rate_limit_windows previous
       ON previous.key = counted.key
      AND previous.window_start = clock.window_start - interval '1 minute'
""")
_PURGE = text("DELETE FROM rate_limit_windows "
              "WHERE window_start < date_trunc('minute', now()) - interval '1 minute'")


@dataclass(frozen=True)
class Limit:
    """At most `per_minute` hits for `key` in any sliding minute."""

    key: str
    per_minute: int


def retry_after_s(hits: int, previous_hits: int, into_window_s: float, limit: int) -> int:
    """0 when this hit is within the limit, else whole seconds until one would be.

    The estimate weighs the previous minute by how much of it still lies in the sliding
    minute: hits + previous_hits * (1 - into_window_s / 60).
    """
    weight = 1.0 - into_window_s / WINDOW_S
    if hits + previous_hits * weight <= limit:
        return 0
    if hits > limit:  # this minute alone is over: wait for it to become the previous one
        return max(1, math.ceil(WINDOW_S - into_window_s))
    # Wait until enough of the previous minute has slid out of the window.
    needed_weight = (limit - hits) / previous_hits
    return max(1, math.ceil((1.0 - needed_weight) * WINDOW_S - into_window_s))


async def hit(engine: AsyncEngine, limits: list[Limit]) -> int:
    """Count one hit against each limit; 0 when all allow it, else seconds to wait."""
    per_minute = {limit.key: limit.per_minute for limit in limits}
    async with engine.begin() as conn:
        rows = (await conn.execute(_HIT, {"keys": sorted(per_minute)})).all()
    return max((retry_after_s(row.hits, row.previous_hits, float(row.into_window_s),
                              per_minute[row.key]) for row in rows), default=0)


async def purge_old_windows(engine: AsyncEngine) -> int:
    """Delete windows no estimate reads any more; returns how many went."""
    async with engine.begin() as conn:
        return (await conn.execute(_PURGE)).rowcount
