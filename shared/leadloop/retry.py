"""Exponential backoff with jitter, and which errors are worth retrying."""

import asyncio
import random

from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# SQLSTATE classes that mean "try again later": connection exceptions, transaction rollbacks
# (serialization failures, deadlocks), insufficient resources, operator intervention (shutdown).
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "40", "53", "57P")


class Backoff:
    """Sleeps longer after each failure, up to a cap; `reset()` after a success."""

    def __init__(self, initial_s: float = 0.1, max_s: float = 5.0) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._next_s = initial_s

    def reset(self) -> None:
        """Start again from the initial delay."""
        self._next_s = self._initial_s

    def next_delay(self) -> float:
        """The current delay (with jitter), doubling the one after it: for a caller that
        waits on something else too (a shutdown, a wake-up) rather than in `sleep`."""
        delay = self._next_s * random.uniform(0.5, 1.0)
        self._next_s = min(self._next_s * 2, self._max_s)
        return delay

    async def sleep(self) -> None:
        """Wait the current delay (with jitter) and double it."""
        await asyncio.sleep(self.next_delay())


def is_transient(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the database or broker is unavailable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (OperationalError, InterfaceError, KafkaError, ConnectionError,
                                OSError, TimeoutError)):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES):
            return True
        current = current.__cause__ or current.__context__
    return False
