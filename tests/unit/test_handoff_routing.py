"""Handoff's pure rules: weighted round-robin routing and the assignment lifecycle."""

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from handoff.assignments.domain import (
    FALLBACK_QUEUE_RULE,
    ROUND_ROBIN_RULE,
    AssignmentState,
    AssignmentStatus,
    RepCandidate,
    RoundRobinCursor,
    accept,
    record_contact,
    reject,
    route_round_robin,
)
from handoff.exceptions import TransitionNotAllowed

ANN, BOB, CAT, DAN = (UUID(int=n) for n in (1, 2, 3, 4))
NAMES = {ANN: "ann", BOB: "bob", CAT: "cat", DAN: "dan"}
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def rep(rep_id: UUID, *, weight: int = 1, capacity: int = 100, load: int = 0,
        active: bool = True) -> RepCandidate:
    return RepCandidate(id=rep_id, name=NAMES[rep_id], weight=weight, capacity=capacity,
                        open_assignments=load, active=active)


def picks(reps: Sequence[RepCandidate], n: int,
          cursor: RoundRobinCursor | None = None) -> tuple[list[str], RoundRobinCursor]:
    """Route n leads in a row, as the service does: the cursor carried from one to the next."""
    cursor = cursor or RoundRobinCursor()
    chosen = []
    for _ in range(n):
        decision = route_round_robin("default", reps, cursor)
        assert decision.rep_id is not None
        chosen.append(NAMES[decision.rep_id])
        cursor = decision.cursor
    return chosen, cursor


# --- rotation ------------------------------------------------------------------------------


def test_equal_weights_rotate_in_rotation_order() -> None:
    chosen, _ = picks([rep(ANN), rep(BOB), rep(CAT)], 6)
    assert chosen == ["ann", "bob", "cat", "ann", "bob", "cat"]


def test_double_weight_rep_gets_twice_the_leads_interleaved_not_in_a_burst() -> None:
    chosen, _ = picks([rep(ANN, weight=2), rep(BOB)], 6)
    assert chosen == ["ann", "bob", "ann", "ann", "bob", "ann"]


def test_leads_are_shared_in_proportion_to_weights_over_a_long_run() -> None:
    chosen, _ = picks([rep(ANN, weight=3), rep(BOB, weight=2), rep(CAT, weight=1)], 600)
    assert Counter(chosen) == {"ann": 300, "bob": 200, "cat": 100}


def test_rotation_continues_from_a_cursor_saved_and_loaded_as_json() -> None:
    reps = [rep(ANN, weight=2), rep(BOB), rep(CAT)]
    straight, _ = picks(reps, 8)
    first, cursor = picks(reps, 3)
    reloaded = RoundRobinCursor.from_json(json.loads(json.dumps(cursor.to_json())))
    rest, _ = picks(reps, 5, reloaded)
    assert first + rest == straight


def test_decision_does_not_change_the_cursor_it_was_given() -> None:
    cursor = RoundRobinCursor({ANN: 1, BOB: -1})
    route_round_robin("default", [rep(ANN), rep(BOB)], cursor)
    assert cursor.credits == {ANN: 1, BOB: -1}


# --- skipping ------------------------------------------------------------------------------


def test_inactive_rep_is_skipped() -> None:
    chosen, _ = picks([rep(ANN), rep(BOB, active=False), rep(CAT)], 4)
    assert chosen == ["ann", "cat", "ann", "cat"]


def test_rep_at_capacity_is_skipped() -> None:
    chosen, _ = picks([rep(ANN, capacity=2, load=2), rep(BOB), rep(CAT)], 4)
    assert chosen == ["bob", "cat", "bob", "cat"]


def test_rep_below_capacity_still_gets_leads() -> None:
    decision = route_round_robin("default", [rep(ANN, capacity=3, load=2)], RoundRobinCursor())
    assert decision.rep_id == ANN


def test_rep_back_from_capacity_is_not_owed_a_burst_of_leads() -> None:
    _, cursor = picks([rep(ANN), rep(BOB)], 2)
    _, cursor = picks([rep(ANN, capacity=1, load=1), rep(BOB)], 10, cursor)  # ann is full
    chosen, _ = picks([rep(ANN), rep(BOB)], 4, cursor)
    assert Counter(chosen) == {"ann": 2, "bob": 2}


def test_rep_who_joins_the_team_enters_the_rotation() -> None:
    _, cursor = picks([rep(ANN), rep(BOB)], 5)
    chosen, _ = picks([rep(ANN), rep(BOB), rep(CAT)], 6, cursor)
    assert Counter(chosen) == {"ann": 2, "bob": 2, "cat": 2}


def test_cursor_forgets_reps_that_left_the_team_but_keeps_inactive_ones() -> None:
    cursor = RoundRobinCursor({ANN: 1, BOB: -2, DAN: 1})
    decision = route_round_robin("default", [rep(ANN), rep(BOB, active=False)], cursor)
    assert set(decision.cursor.credits) == {ANN, BOB}
    assert decision.cursor.credits[BOB] == -2


# --- fallback ------------------------------------------------------------------------------


def test_lead_goes_to_the_fallback_queue_when_every_rep_is_inactive_or_full() -> None:
    reps = [rep(ANN, active=False), rep(BOB, capacity=1, load=1), rep(CAT, capacity=2, load=5)]
    decision = route_round_robin("emea", reps, RoundRobinCursor({ANN: 1, BOB: -1}))
    assert decision.rep_id is None
    assert decision.rule == FALLBACK_QUEUE_RULE
    assert decision.reason == ("no rep in team 'emea' can take a lead (2 at capacity, "
                               "1 inactive); waiting in the fallback queue")
    assert decision.cursor.credits == {ANN: 1, BOB: -1}  # nobody took a turn


def test_lead_goes_to_the_fallback_queue_when_the_team_has_no_reps() -> None:
    decision = route_round_robin("default", [], RoundRobinCursor())
    assert (decision.rep_id, decision.rule) == (None, FALLBACK_QUEUE_RULE)
    assert "team 'default' has no reps" in decision.reason


# --- explanation ---------------------------------------------------------------------------


def test_round_robin_decision_says_which_rule_and_why() -> None:
    reps = [rep(ANN, weight=2), rep(BOB), rep(CAT), rep(DAN, active=False)]
    decision = route_round_robin("default", reps, RoundRobinCursor())
    assert decision.rule == ROUND_ROBIN_RULE
    assert decision.reason == ("round-robin in team 'default': next of 3 available reps "
                               "(weight 2 of 4); skipped 1 inactive")


def test_reason_names_no_skipped_reps_when_none_were_skipped() -> None:
    decision = route_round_robin("default", [rep(ANN), rep(BOB)], RoundRobinCursor())
    assert decision.reason == ("round-robin in team 'default': next of 2 available reps "
                               "(weight 1 of 2)")


# --- lifecycle -----------------------------------------------------------------------------


def assigned(**changes: object) -> AssignmentState:
    return AssignmentState(**{"status": AssignmentStatus.assigned, "rep_id": ANN, **changes})


def test_rep_accepts_an_assigned_lead() -> None:
    transition = accept(assigned(), T0)
    assert transition.changed
    assert transition.state.status is AssignmentStatus.accepted
    assert transition.state.accepted_at == T0


def test_accepting_twice_changes_nothing() -> None:
    first = accept(assigned(), T0).state
    again = accept(first, T0 + timedelta(minutes=1))
    assert not again.changed
    assert again.state == first


@pytest.mark.parametrize("status", [AssignmentStatus.rejected, AssignmentStatus.queued])
def test_accepting_a_rejected_or_queued_assignment_is_refused(status: AssignmentStatus) -> None:
    with pytest.raises(TransitionNotAllowed):
        accept(assigned(status=status, rep_id=None if status == "queued" else ANN), T0)


@pytest.mark.parametrize("status", [AssignmentStatus.assigned, AssignmentStatus.accepted])
def test_rep_rejects_a_lead_before_or_after_accepting_it(status: AssignmentStatus) -> None:
    transition = reject(assigned(status=status), T0)
    assert transition.changed
    assert transition.state.status is AssignmentStatus.rejected
    assert transition.state.rejected_at == T0


def test_rejecting_a_rejected_assignment_is_refused() -> None:
    rejected = reject(assigned(), T0).state
    with pytest.raises(TransitionNotAllowed, match="rejected"):
        reject(rejected, T0)


def test_queued_assignment_cannot_be_rejected_without_a_rep() -> None:
    with pytest.raises(TransitionNotAllowed, match="fallback queue"):
        reject(AssignmentState(status=AssignmentStatus.queued, rep_id=None), T0)


def test_only_the_first_touch_counts_as_contact() -> None:
    first = record_contact(assigned(), T0)
    later = record_contact(first.state, T0 + timedelta(hours=1))
    assert first.changed and first.state.contacted_at == T0
    assert not later.changed and later.state.contacted_at == T0


def test_contact_does_not_accept_the_lead() -> None:
    assert record_contact(assigned(), T0).state.status is AssignmentStatus.assigned


def test_contact_on_a_rejected_assignment_is_refused() -> None:
    with pytest.raises(TransitionNotAllowed):
        record_contact(assigned(status=AssignmentStatus.rejected), T0)
