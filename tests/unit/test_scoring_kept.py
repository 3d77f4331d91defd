"""What scoring keeps of a lead between batches: used only at the version it was kept at and
for a window that has not grown, pruned to the window, taken out while a batch applies it,
bounded by the number of activities kept."""

import uuid
from datetime import UTC, datetime, timedelta

from scoring.leads.kept import Kept, KeptActivities, new_version
from scoring.rules.activities import Activity

SINCE = datetime(2026, 11, 1, tzinfo=UTC)


def _activities(count: int, start: datetime = SINCE) -> list[Activity]:
    return [Activity(uuid.uuid4(), "page_view", start + timedelta(hours=n + 1))
            for n in range(count)]


def test_kept_activities_are_given_once_at_the_version_they_were_kept_at() -> None:
    kept, lead = KeptActivities(), uuid.uuid4()
    activities = _activities(3)
    kept.put(lead, Kept(7, SINCE, activities))
    assert kept.take(lead, 8, SINCE) is None  # another writer changed them
    kept.put(lead, Kept(7, SINCE, activities))
    taken = kept.take(lead, 7, SINCE)
    assert taken is not None and taken.activities == activities
    assert kept.take(lead, 7, SINCE) is None  # taken out while the batch applies it


def test_kept_activities_are_pruned_to_a_later_window_and_refused_for_an_earlier_one() -> None:
    kept, lead = KeptActivities(), uuid.uuid4()
    activities = _activities(5)
    kept.put(lead, Kept(1, SINCE, activities))
    later = activities[1].occurred_at
    taken = kept.take(lead, 1, later)
    assert taken is not None and taken.activities == activities[2:] and taken.since == later
    kept.put(lead, taken)
    assert kept.take(lead, 1, SINCE) is None  # older activities may be missing: loaded


def test_the_least_recently_used_leads_go_first_beyond_the_bound() -> None:
    kept = KeptActivities(max_activities=10)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    kept.put(first, Kept(1, SINCE, _activities(4)))
    kept.put(second, Kept(1, SINCE, _activities(4)))
    kept.put(first, Kept(1, SINCE, _activities(4)))  # used again: the most recent
    kept.put(third, Kept(1, SINCE, _activities(4)))
    assert len(kept) == 2
    assert kept.take(second, 1, SINCE) is None
    assert kept.take(first, 1, SINCE) is not None and kept.take(third, 1, SINCE) is not None
    kept.put(first, Kept(1, SINCE, _activities(11)))  # more than the bound: not kept
    assert len(kept) == 0


def test_no_more_leads_are_kept_than_the_bound_however_few_their_activities() -> None:
    kept = KeptActivities(max_leads=3)
    leads = [uuid.uuid4() for _ in range(5)]
    for lead in leads:
        kept.put(lead, Kept(1, SINCE, []))
    assert len(kept) == 3
    assert [kept.take(lead, 1, SINCE) is not None for lead in leads] == [False, False] + [True] * 3


def test_new_versions_are_positive_63_bit_numbers_that_do_not_repeat() -> None:
    versions = {new_version() for _ in range(1000)}
    assert len(versions) == 1000 and all(0 < v < 2**63 for v in versions)
