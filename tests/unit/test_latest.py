"""Each key's latest item of a batch: by the items' own time, the later one in the batch on a
tie."""

from datetime import UTC, datetime, timedelta

from leadloop.latest import latest_per_key

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_each_key_keeps_its_latest_item_and_a_tie_goes_to_the_later_one() -> None:
    batch = [("a", "first", T0 + timedelta(hours=2)), ("b", "only", T0),
             ("a", "older", T0 + timedelta(hours=1)), ("a", "tied", T0 + timedelta(hours=2))]
    latest = latest_per_key(batch, key=lambda item: item[0], at=lambda item: item[2])
    assert {k: item[1] for k, item in latest.items()} == {"a": "tied", "b": "only"}
