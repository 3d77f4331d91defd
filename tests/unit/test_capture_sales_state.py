"""Capture's projection of each lead's owner and qualification (for lead search): the latest
event wins, whatever order the scoring and handoff topics deliver them in."""

import uuid
from datetime import UTC, datetime, timedelta

from capture.sales.domain import Qualification, SalesState, fold
from leadloop.events.models import (
    LeadAccepted,
    LeadDisqualified,
    LeadHandedOff,
    LeadProfile,
    LeadQualified,
    LeadRejected,
    RepRef,
)

LEAD = uuid.uuid4()
ADA = RepRef(id=uuid.uuid4(), name="Ada", email="ada@sales.example", team="emea")
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _qualified(minutes: int) -> LeadQualified:
    return LeadQualified(lead_id=LEAD, score=80, grade="A", model_version=1,
                         profile=LeadProfile(email="sam@example.com"), qualified_at=_at(minutes))


def _handed_off(minutes: int, rep: RepRef | None = ADA) -> LeadHandedOff:
    return LeadHandedOff(lead_id=LEAD, assignment_id=uuid.uuid4(), rep=rep, routing_rule="r",
                         routing_reason="round robin", profile=LeadProfile(email="sam@example.com"),
                         score=80, grade="A", qualified_at=_at(0), handed_off_at=_at(minutes))


def _accepted(minutes: int) -> LeadAccepted:
    return LeadAccepted(lead_id=LEAD, assignment_id=uuid.uuid4(), rep_id=ADA.id,
                        accepted_at=_at(minutes))


def _rejected(minutes: int) -> LeadRejected:
    return LeadRejected(lead_id=LEAD, assignment_id=uuid.uuid4(), rep_id=ADA.id,
                        reason_code="not_a_fit", rejected_at=_at(minutes))


def test_a_qualified_lead_handed_to_a_rep_who_accepts_is_an_sql_owned_by_that_rep() -> None:
    assert fold([_qualified(0), _handed_off(1), _accepted(5)]) == [
        SalesState(LEAD, ADA.id, _at(5), Qualification.sql, _at(5))]


def test_events_of_two_topics_out_of_order_end_as_the_latest_says() -> None:
    # handoff's topic delivered before scoring's: the older qualification does not undo sql
    assert fold([_handed_off(1), _accepted(5), _qualified(0)]) == [
        SalesState(LEAD, ADA.id, _at(5), Qualification.sql, _at(5))]


def test_a_rejected_lead_has_no_owner_until_it_is_routed_again() -> None:
    assert fold([_handed_off(1), _rejected(3)]) == [
        SalesState(LEAD, None, _at(3), Qualification.rejected, _at(3))]
    assert fold([_rejected(3), _handed_off(4)])[0].owner_rep_id == ADA.id


def test_the_fallback_queue_holds_a_lead_with_no_owner_and_leaves_its_qualification() -> None:
    assert fold([_handed_off(1, rep=None)]) == [SalesState(LEAD, None, _at(1), None, None)]


def test_a_disqualifier_after_qualification_wins() -> None:
    disqualified = LeadDisqualified(lead_id=LEAD, rule_id="competitor", reason="competitor",
                                    model_version=1, disqualified_at=_at(2))
    [state] = fold([_qualified(0), disqualified])
    assert state.qualification == Qualification.disqualified and state.owner_at is None
