"""The keys a service's key feed remembers for its consumer runner (leadloop.keyring)."""

import asyncio
from typing import Any, cast

import pytest

from leadloop import consumer
from leadloop.handlers import Handlers
from leadloop.keyring import KeyArrivals


def test_remembered_keys_are_recalled_and_unknown_leads_left_out() -> None:
    arrivals = KeyArrivals()
    arrivals.remember([("a", b"ka"), ("b", b"kb")])
    assert arrivals.recall(["a", "b", "c"]) == {"a": b"ka", "b": b"kb"}


def test_an_erased_leads_key_never_comes_back() -> None:
    arrivals = KeyArrivals()
    # In log order: key, erasure, then the key again (a replay from an older offset).
    arrivals.remember([("a", b"ka"), ("a", None), ("a", b"ka")])
    assert arrivals.recall(["a"]) == {"a": None}


def test_a_leads_first_key_stays() -> None:
    arrivals = KeyArrivals()
    arrivals.remember([("a", b"first")])
    arrivals.remember([("a", b"second")])
    assert arrivals.recall(["a"]) == {"a": b"first"}


def test_the_oldest_arrivals_are_forgotten_beyond_capacity() -> None:
    arrivals = KeyArrivals(capacity=2)
    arrivals.remember([("a", b"ka"), ("b", b"kb"), ("c", b"kc")])
    assert arrivals.recall(["a", "b", "c"]) == {"b": b"kb", "c": b"kc"}


def test_an_erasure_is_kept_even_when_its_key_was_forgotten() -> None:
    arrivals = KeyArrivals(capacity=1)
    arrivals.remember([("a", b"ka"), ("b", b"kb")])
    arrivals.remember([("a", None)])
    assert arrivals.recall(["a", "b"]) == {"a": None}


def test_forget_drops_everything() -> None:
    arrivals = KeyArrivals()
    arrivals.remember([("a", b"ka")])
    arrivals.forget()
    assert arrivals.recall(["a"]) == {}


def test_a_key_is_stored_by_whoever_comes_first_and_an_erasure_cancels_it() -> None:
    arrivals = KeyArrivals()
    arrivals.remember([("a", b"ka"), ("b", b"kb"), ("c", b"kc")])
    assert arrivals.unstored(["a", "b", "x"]) == {"a": b"ka", "b": b"kb"}
    arrivals.now_stored(["a"])  # a consumer batch stored it: the feed skips it
    arrivals.remember([("b", None)])  # erased before anyone stored its key
    assert arrivals.unstored(["a", "b", "c"]) == {"c": b"kc"}
    arrivals.forget()  # partitions moved: recall is empty, but the feed still stores "c"
    assert arrivals.recall(["c"]) == {}
    assert arrivals.unstored(["c"]) == {"c": b"kc"}


def test_a_key_counts_as_stored_once_a_transaction_stored_it() -> None:
    arrivals = KeyArrivals()
    arrivals.remember([("a", b"ka"), ("b", b"kb"), ("c", None)])
    arrivals.now_stored(["a"])
    # "b" waits to be stored, "c" was erased, "x" was never read: only "a" is skipped.
    assert arrivals.already_stored(["a", "b", "c", "x"]) == {"a"}


@pytest.mark.asyncio
async def test_a_key_read_while_the_database_is_asked_ends_the_wait_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A wake-up missed there cost every event that overtook its key a whole poll: 50 ms on
    # about one lead in five at a trickle. A missed one would now wait a minute.
    monkeypatch.setattr(consumer, "KEY_POLL_S", (60.0, 60.0))
    arrivals = KeyArrivals()
    runner = consumer.ConsumerRunner(
        service="test", engine=cast(Any, None), producer=cast(Any, None),
        bootstrap_servers="localhost:9092", topics=[], handlers=Handlers(),
        key_arrivals=arrivals)

    async def lookup(lead_ids: set[str]) -> dict[str, bytes | None]:
        found = arrivals.recall(lead_ids)
        if not found:  # not in memory: the database is asked, and meanwhile the feed reads it
            arrivals.remember([("a", b"ka")])
        return found
    monkeypatch.setattr(runner, "_lookup_keys", lookup)

    keys = await asyncio.wait_for(runner._known_keys(["a"]), timeout=20)
    assert keys == {"a": b"ka"}


def test_an_arrival_taken_before_a_lookup_is_set_by_a_key_read_during_it() -> None:
    arrivals = KeyArrivals()
    before = arrivals.next_arrival()
    arrivals.remember([("a", b"ka")])
    assert before.is_set()
    assert not arrivals.next_arrival().is_set()  # the next one waits for the next key
