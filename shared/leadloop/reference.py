"""Reference data (models, rules, reps, sequences, forms) read once and kept in memory.

Handlers must not query reference data per event. A `Reference` holds the loaded value and
checks a cheap version query at most once per `max_age_s` (one small statement a second, not
one per event): when the version changed (an admin edit on any replica), the value is loaded
again, so every replica sees a change within about a second. A replica that made the change
itself calls `invalidate()` and sees it at once.
"""

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")

Loader = Callable[[AsyncConnection], Awaitable[T]]


class Reference(Generic[T]):
    """One piece of reference data, loaded by `load` and re-loaded when `version` changes."""

    def __init__(self, load: Loader[T], version: Loader[Hashable] | None = None,
                 max_age_s: float = 1.0) -> None:
        self._load = load
        self._version = version
        self._max_age_s = max_age_s
        self._value: T | None = None
        self._loaded = False
        self._version_seen: Hashable = None
        self._checked_at = 0.0

    def invalidate(self) -> None:
        """Load afresh on the next `get` (after this process changed the data)."""
        self._loaded = False

    async def get(self, conn: AsyncConnection) -> T:
        """The current value: from memory, checked against the stored version once a second."""
        now = time.monotonic()
        if self._loaded and now - self._checked_at < self._max_age_s:
            return self._value  # type: ignore[return-value]
        self._checked_at = now
        if self._version is None:
            self._value, self._loaded = await self._load(conn), True
            return self._value
        version = await self._version(conn)
        if not self._loaded or version != self._version_seen:
            self._value = await self._load(conn)
            self._version_seen, self._loaded = version, True
        return self._value  # type: ignore[return-value]
