"""Merged leads in outcomes, pure rules: which lead a duplicate counts as whatever the order its
merge and unmerge are applied in, the groups that count as one lead, and the row they count as."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from leadloop.events.models import LeadMerged, LeadProfile, LeadUnmerged
from outcomes.funnel.merges import (
    MAX_CHAIN,
    MergeState,
    fold_group,
    merge_group,
    merge_states,
    survivor_of,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PROFILE = LeadProfile(email="ann@example.com")
S, D, D2, T = (uuid.UUID(int=n) for n in (10, 20, 30, 40))


def _merged(survivor: uuid.UUID, duplicate: uuid.UUID, hours: int) -> LeadMerged:
    return LeadMerged(lead_id=survivor, merged_lead_id=duplicate, merge_id=uuid.uuid4(),
                      profile=PROFILE, merged_at=T0 + timedelta(hours=hours))


def _unmerged(survivor: uuid.UUID, duplicate: uuid.UUID, hours: int) -> LeadUnmerged:
    return LeadUnmerged(lead_id=survivor, restored_lead_id=duplicate, merge_id=uuid.uuid4(),
                        profile=PROFILE, restored_profile=PROFILE,
                        unmerged_at=T0 + timedelta(hours=hours))


def test_the_latest_merge_or_unmerge_decides_whatever_order_they_are_applied_in() -> None:
    # Merged into S, undone, then merged into T: on different partitions, so any order.
    history = [_merged(S, D, 1), _unmerged(S, D, 2), _merged(T, D, 3)]
    for order in itertools.permutations(history):
        assert merge_states(order) == [MergeState(D, T, T0 + timedelta(hours=3))]
    undone = [_merged(S, D, 1), _unmerged(S, D, 2)]
    for order in itertools.permutations(undone):
        assert merge_states(order) == [MergeState(D, None, T0 + timedelta(hours=2))]


def test_a_lead_merged_into_itself_and_other_events_set_nothing() -> None:
    assert merge_states([_merged(S, S, 1)]) == []


def test_a_chain_of_merges_counts_as_its_last_survivor_and_a_loop_ends() -> None:
    links = {D: S, S: T, D2: S}
    assert survivor_of(links, D) == T and survivor_of(links, T) == T
    assert merge_group(links, D2) == sorted([D, S, T, D2])
    assert merge_group({}, D) == [D]
    # A loop (never made by capture) is followed MAX_CHAIN steps, then given up on.
    assert survivor_of({D: S, S: D}, D) == (S if MAX_CHAIN % 2 else D)


def _row(lead_id: uuid.UUID, **values: Any) -> dict[str, Any]:
    return {"lead_id": lead_id, **values}


def test_a_group_counts_its_earliest_stages_latest_score_and_the_survivors_source() -> None:
    survivor = _row(S, lead_at=T0, mql_at=T0 + timedelta(hours=1), channel="form",
                    utm_source="linkedin", utm_campaign="q4-launch", score=40,
                    scored_at=T0 + timedelta(hours=1), country="DE",
                    profile_at=T0 + timedelta(days=2))
    duplicate = _row(D, lead_at=T0 - timedelta(days=1), mql_at=T0 + timedelta(days=1),
                     won_at=T0 + timedelta(days=3), channel="form", utm_source="google",
                     utm_campaign="brand", form_id="f1", score=90,
                     scored_at=T0 + timedelta(days=1), country="FR", profile_at=T0,
                     rejected_at=T0 + timedelta(hours=5), rejection_reason="not_a_fit")
    folded = fold_group(S, [duplicate, survivor])
    assert folded["lead_id"] == S
    assert folded["lead_at"] == T0 - timedelta(days=1), "created when the first of them was"
    assert folded["mql_at"] == T0 + timedelta(hours=1)
    assert folded["won_at"] == T0 + timedelta(days=3), "the duplicate's deal is the lead's"
    assert (folded["score"], folded["scored_at"]) == (90, T0 + timedelta(days=1))
    assert (folded["country"], folded["profile_at"]) == ("DE", T0 + timedelta(days=2))
    assert (folded["rejected_at"], folded["rejection_reason"]) == (
        T0 + timedelta(hours=5), "not_a_fit")
    # The survivor's whole source, never a field of the duplicate's mixed in.
    assert (folded["utm_source"], folded["utm_campaign"], folded["form_id"]) == (
        "linkedin", "q4-launch", None)


def test_a_group_takes_the_earliest_duplicates_source_when_the_survivor_has_none() -> None:
    survivor = _row(S, mql_at=T0)
    later = _row(D, lead_at=T0 + timedelta(days=2), utm_source="google")
    earlier = _row(D2, lead_at=T0 + timedelta(days=1), utm_source="bing", channel="form")
    folded = fold_group(S, [survivor, later, earlier])
    assert (folded["utm_source"], folded["channel"]) == ("bing", "form")
    assert fold_group(S, [survivor])["utm_source"] is None
