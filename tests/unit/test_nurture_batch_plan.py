"""Nurture's batch decisions (lead_changes.plan), pure: each lead's changes fold in order over its
loaded state and enrollments, and a batch decides what applying its changes one by one would."""

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from nurture.leads.changes import (
    ConsentChanged,
    Created,
    DealEnded,
    Engaged,
    Erased,
    Exited,
    LeadChange,
    Plan,
    ProfileUpdated,
    Rejected,
    Scored,
    lead_ids_of,
    plan,
)
from nurture.leads.domain import Enrollment, EnrollmentStatus, LeadState
from nurture.sequences.catalog import Catalog
from nurture.sequences.domain import EntryRule, ExitReason
from nurture.sequences.domain import Sequence as NurtureSequence

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)
ONE_EMAIL: Any = [{"kind": "send_email", "template": "welcome"}]


def _sequence(key: str, rule: EntryRule, **settings: Any) -> NurtureSequence:
    return NurtureSequence(key=key, version=1, entry_rule=rule, steps=ONE_EMAIL, **settings)


CATALOG = Catalog({(s.key, s.version): s for s in (
    _sequence("welcome", EntryRule.new_unqualified_lead),
    _sequence("spring", EntryRule.new_unqualified_lead, segment={"utm_campaign": ["spring"]},
              exit_on=[ExitReason.qualified]),
    _sequence("recycle", EntryRule.lead_rejected, entry_delay_days=3),
    _sequence("onboarding", EntryRule.deal_won),
    _sequence("re-engage", EntryRule.deal_lost, entry_delay_days=90),
    _sequence("old", EntryRule.new_unqualified_lead, active=False),
)})


def _created(lead: uuid.UUID, campaign: str = "spring", at: datetime = T0) -> Created:
    return Created(lead, at, {"email": f"{lead.hex[:6]}@widgets.example"}, True,
                   {"utm_campaign": campaign})


def _running(plan_: Plan) -> list[tuple[Any, ...]]:
    return sorted((e.lead_id, e.sequence_key, e.status, e.exit_reason, e.next_step_due_at)
                  for e in plan_.new_enrollments)


def test_a_new_lead_enters_the_live_sequences_of_its_segment_due_at_once() -> None:
    lead = uuid.uuid4()
    decided = plan([_created(lead)], {}, [], CATALOG, NOW)
    assert _running(decided) == [
        (lead, "spring", EnrollmentStatus.active, None, NOW),
        (lead, "welcome", EnrollmentStatus.active, None, NOW)]
    [state] = decided.changed_states
    assert (state.created_at, state.email_consent, state.attributes) == \
        (T0, True, {"utm_campaign": "spring"})


def test_a_lead_created_and_qualified_in_one_batch_is_stored_exited_never_active() -> None:
    lead = uuid.uuid4()
    decided = plan([_created(lead), Exited(lead, ExitReason.qualified, T0)], {}, [], CATALOG,
                   NOW)
    assert {(e.sequence_key, e.status, e.exit_reason, e.exited_at, e.next_step_due_at)
            for e in decided.new_enrollments} == {
        ("spring", EnrollmentStatus.exited, ExitReason.qualified, NOW, None),
        ("welcome", EnrollmentStatus.exited, ExitReason.qualified, NOW, None)}
    assert decided.after[lead].qualified_at == T0


def test_only_sequences_that_exit_on_the_reason_stop() -> None:
    lead = uuid.uuid4()
    decided = plan([_created(lead), Exited(lead, ExitReason.replied, T0)], {}, [], CATALOG, NOW)
    assert {(e.sequence_key, e.status) for e in decided.new_enrollments} == {
        ("spring", EnrollmentStatus.active), ("welcome", EnrollmentStatus.exited)}


def test_a_deal_lost_before_the_profile_waits_for_it_then_enters_after_the_entry_delay() -> None:
    lead = uuid.uuid4()
    early = plan([DealEnded(lead, False, T0)], {}, [], CATALOG, NOW)
    assert early.new_enrollments == []
    assert early.after[lead].pending_entries == (EntryRule.deal_lost,)
    decided = plan([DealEnded(lead, False, T0), _created(lead)], {}, [], CATALOG, NOW)
    [re_engage] = decided.new_enrollments  # past marketing: no new-lead sequence
    assert (re_engage.sequence_key, re_engage.next_step_due_at) == \
        ("re-engage", NOW + timedelta(days=90))
    assert decided.after[lead].pending_entries == ()


def test_a_new_score_or_engagement_wakes_waiting_enrollments_only() -> None:
    lead = uuid.uuid4()
    waiting, due = (Enrollment(id=uuid.uuid4(), lead_id=lead, sequence_key=key,
                               sequence_version=1, status=EnrollmentStatus.active,
                               current_step=1, next_step_due_at=at, enrolled_at=T0)
                    for key, at in (("welcome", NOW + timedelta(days=2)), ("spring", T0)))
    state = LeadState(lead_id=lead, created_at=T0)
    for change in (Scored(lead, 55, NOW), Engaged(lead, uuid.uuid4(), "page_view", NOW)):
        decided = plan([change], {lead: state}, [waiting, due], CATALOG, NOW)
        assert [(e.id, e.next_step_due_at) for e in decided.changed_enrollments] == \
            [(waiting.id, NOW)]
    ignored = plan([Engaged(lead, uuid.uuid4(), "form_submitted", NOW)], {lead: state},
                   [waiting, due], CATALOG, NOW)
    assert ignored.changed_enrollments == [] and ignored.engagements == []


def test_only_enrollments_waiting_at_a_branch_are_woken() -> None:
    # A wait, an entry delay or a send put off by its guards would only go back to sleep
    # until the same time: they stay asleep.
    nurturing = NurtureSequence(key="nurturing", version=1, entry_rule=EntryRule.lead_rejected,
                                steps=[*ONE_EMAIL, {"kind": "wait", "days": 2},
                                       {"kind": "branch", "condition": "visited",
                                        "within_days": 3, "then": 4}, *ONE_EMAIL, *ONE_EMAIL])
    catalog = Catalog({**CATALOG.versions, ("nurturing", 1): nurturing})
    lead = uuid.uuid4()
    at_wait, at_branch, at_send = (
        Enrollment(id=uuid.uuid4(), lead_id=lead, sequence_key="nurturing", sequence_version=1,
                   status=EnrollmentStatus.active, current_step=step,
                   next_step_due_at=NOW + timedelta(days=1), enrolled_at=T0)
        for step in (1, 2, 3))
    state = LeadState(lead_id=lead, created_at=T0)
    for change in (Scored(lead, 55, NOW), Engaged(lead, uuid.uuid4(), "page_view", NOW)):
        decided = plan([change], {lead: state}, [at_wait, at_branch, at_send], catalog, NOW)
        assert [(e.id, e.next_step_due_at) for e in decided.changed_enrollments] == \
            [(at_branch.id, NOW)]


def test_a_replayed_lead_created_enrolls_nobody_twice() -> None:
    lead = uuid.uuid4()
    first = plan([_created(lead)], {}, [], CATALOG, NOW)
    again = plan([_created(lead)], {lead: first.after[lead]}, first.new_enrollments, CATALOG,
                 NOW)
    assert again.new_enrollments == [] and again.changed_states == []
    inside = plan([_created(lead), _created(lead)], {}, [], CATALOG, NOW)
    assert len(inside.new_enrollments) == 2


def test_erasure_forgets_what_came_before_it_in_the_batch_and_keeps_what_came_after() -> None:
    lead = uuid.uuid4()
    before, after = (Engaged(lead, uuid.uuid4(), "page_view", T0 + timedelta(seconds=n))
                     for n in (1, 3))
    decided = plan([_created(lead), before, Erased(lead, T0 + timedelta(seconds=2)), after,
                    _created(lead)], {}, [], CATALOG, NOW)
    assert decided.erased == [lead]
    assert decided.new_enrollments == [] and decided.engagements == [after]
    assert decided.after[lead] == LeadState(lead_id=lead, erased_at=T0 + timedelta(seconds=2))


def test_an_unsubscribe_or_bounce_suppresses_the_address() -> None:
    lead = uuid.uuid4()
    state = LeadState(lead_id=lead, email="lee@widgets.example")
    decided = plan([Exited(lead, ExitReason.unsubscribed, T0),
                    Exited(lead, ExitReason.qualified, T0)], {lead: state}, [], CATALOG, NOW)
    assert decided.suppressions == [("lee@widgets.example", ExitReason.unsubscribed)]


def test_locks_are_taken_in_lead_id_order() -> None:
    leads = [uuid.uuid4() for _ in range(5)]
    assert lead_ids_of([Scored(lead, 1, T0) for lead in [*leads, *leads]]) == sorted(leads)


# --- a batch decides what one change at a time decides ------------------------------------


def _one_by_one(changes: Sequence[LeadChange]) -> tuple[dict[uuid.UUID, LeadState],
                                                        list[Enrollment]]:
    """Plan each change alone over what the previous ones stored, as one transaction each."""
    states: dict[uuid.UUID, LeadState] = {}
    stored: dict[uuid.UUID, Enrollment] = {}
    for change in changes:
        active = [e for e in stored.values() if e.lead_id == change.lead_id
                  and e.status == EnrollmentStatus.active]
        decided = plan([change], states, active, CATALOG, NOW)
        states.update(decided.after)
        if decided.erased:
            stored = {i: e for i, e in stored.items() if e.lead_id not in decided.erased}
        stored.update({e.id: e for e in [*decided.changed_enrollments,
                                         *decided.new_enrollments]})
    return states, list(stored.values())


def _comparable(enrollments: Iterable[Enrollment]) -> list[tuple[Any, ...]]:
    return sorted((e.lead_id, e.sequence_key, e.status, e.exit_reason, e.next_step_due_at,
                   e.step_started_at) for e in enrollments)


def test_a_mixed_batch_decides_what_one_change_at_a_time_decides() -> None:
    hot, cold, back, won, gone = (uuid.uuid4() for _ in range(5))
    changes: list[LeadChange] = [
        _created(hot), _created(cold, "autumn"), Scored(hot, 30, T0),
        DealEnded(won, True, T0), Engaged(hot, uuid.uuid4(), "email_opened", T0),
        _created(back), Rejected(back, "bad_timing", T0), Scored(back, 10, T0),
        Exited(cold, ExitReason.replied, T0), _created(won),
        ConsentChanged(back, False, T0 + timedelta(seconds=1)),
        ProfileUpdated(back, {"email": "new@widgets.example"}, True, {"industry": "retail"},
                       T0 + timedelta(seconds=2)),
        _created(gone), Erased(gone, T0), Exited(hot, ExitReason.qualified, T0),
        DealEnded(won, True, T0 + timedelta(days=1)), Exited(cold, ExitReason.merged, T0),
    ]
    batch = plan(changes, {}, [], CATALOG, NOW)
    states, enrollments = _one_by_one(changes)
    assert batch.after == states
    assert _comparable(batch.new_enrollments) == _comparable(enrollments)
    assert {e.sequence_key for e in batch.new_enrollments} == {
        "welcome", "spring", "recycle", "onboarding"}


def test_a_customers_onboarding_exits_when_a_new_deal_opens_not_on_a_handoff() -> None:
    lead = uuid.uuid4()
    won = plan([_created(lead), DealEnded(lead, True, T0)], {}, [], CATALOG, NOW)
    [onboarding] = [e for e in won.new_enrollments if e.sequence_key == "onboarding"]
    assert onboarding.status == EnrollmentStatus.active
    state = won.after[lead]
    # The owner takes the customer's new interest: onboarding goes on.
    handed = plan([Exited(lead, ExitReason.handed_off, T0 + timedelta(days=2))], {lead: state},
                  [onboarding], CATALOG, NOW + timedelta(days=2))
    assert handed.changed_enrollments == []
    # Sales opens a second deal: onboarding has done its job.
    opened = plan([Exited(lead, ExitReason.deal_opened, T0 + timedelta(days=3))], {lead: state},
                  [onboarding], CATALOG, NOW + timedelta(days=3))
    [stopped] = opened.changed_enrollments
    assert (stopped.status, stopped.exit_reason) == (EnrollmentStatus.exited,
                                                      ExitReason.deal_opened)
