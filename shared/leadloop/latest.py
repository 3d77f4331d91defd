"""Each key's latest item of a batch, by the time the items themselves carry."""

from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def latest_per_key(items: Iterable[T], key: Callable[[T], K],
                   at: Callable[[T], datetime]) -> dict[K, T]:
    """Each key's item with the latest `at`; on a tie the later one in `items` wins, as the
    later-applied event does, so a batch read in another order ends the same."""
    latest: dict[K, T] = {}
    for item in items:
        held = latest.get(key(item))
        if held is None or at(item) >= at(held):
            latest[key(item)] = item
    return latest
