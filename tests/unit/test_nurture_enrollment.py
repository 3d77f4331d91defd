"""Nurture's enrollment rules: who enters a sequence, who leaves it, and what steps look like."""

import importlib.util
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from nurture.leads.domain import (
    Enrollment,
    EnrollmentStatus,
    LeadState,
    admit_new_lead,
    enroll,
    enrollments_to_exit,
    erased,
    record_exit_cause,
    record_rejection,
    should_enroll,
)
from nurture.sequences.domain import EntryRule, ExitReason, Sequence, sequences_to_enter
from nurture.sequences.schemas import SequenceIn
from nurture.sequences.steps import STEPS_ADAPTER, SendEmailStep, WaitStep

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEAD = uuid.UUID("00000000-0000-4000-8000-000000000001")
MIGRATION = (Path(__file__).resolve().parents[2]
             / "services/nurture/migrations/versions/0001_initial.py")


def welcome(version: int = 1, active: bool = True,
            rule: EntryRule = EntryRule.new_unqualified_lead) -> Sequence:
    return Sequence(key="welcome", version=version, entry_rule=rule, active=active,
                    steps=[SendEmailStep(template="welcome"), WaitStep(days=2)])


def enrollment(status: EnrollmentStatus, key: str = "welcome") -> Enrollment:
    return Enrollment(id=uuid.uuid4(), lead_id=LEAD, sequence_key=key, sequence_version=1,
                      status=status, current_step=0, next_step_due_at=T0, enrolled_at=T0)


# --- entering ------------------------------------------------------------------------------


def test_new_lead_nobody_qualified_is_enrolled() -> None:
    state, enter = admit_new_lead(LeadState(lead_id=LEAD), T0)
    assert enter
    assert state.created_at == T0


@pytest.mark.parametrize("reason", list(ExitReason))
def test_lead_qualified_handed_off_or_disqualified_before_created_is_not_enrolled(
    reason: ExitReason,
) -> None:
    state = record_exit_cause(LeadState(lead_id=LEAD), reason, T0)
    state, enter = admit_new_lead(state, T0 - timedelta(minutes=5))
    assert not enter
    assert state.created_at == T0 - timedelta(minutes=5)


def test_replayed_lead_created_does_not_enroll_again() -> None:
    state, first = admit_new_lead(LeadState(lead_id=LEAD), T0)
    state, second = admit_new_lead(state, T0)
    assert first
    assert not second


def test_rejected_lead_is_still_a_new_lead_for_the_welcome_sequence() -> None:
    state = record_rejection(LeadState(lead_id=LEAD), "bad_timing", T0)
    assert should_enroll(state, EntryRule.new_unqualified_lead)


def test_erased_lead_is_never_enrolled() -> None:
    state = erased(LeadState(lead_id=LEAD), T0)
    state, enter = admit_new_lead(state, T0)
    assert not enter
    assert state.created_at is None


def test_only_active_sequences_of_the_rule_are_entered() -> None:
    live, old = welcome(version=2), welcome(version=1, active=False)
    assert sequences_to_enter([old, live], EntryRule.new_unqualified_lead) == [live]


def test_new_enrollment_starts_at_first_step_due_at_once() -> None:
    new = enroll(LEAD, welcome(version=3), T0)
    assert (new.status, new.current_step, new.next_step_due_at) == (
        EnrollmentStatus.active, 0, T0)
    assert (new.sequence_key, new.sequence_version, new.enrolled_at) == ("welcome", 3, T0)
    assert new.exit_reason is None and new.exited_at is None


# --- lead state from events in any order --------------------------------------------------


def test_first_qualification_time_is_kept_whatever_the_order() -> None:
    later_first = record_exit_cause(
        record_exit_cause(LeadState(lead_id=LEAD), ExitReason.qualified, T0 + timedelta(hours=1)),
        ExitReason.qualified, T0)
    earlier_first = record_exit_cause(
        record_exit_cause(LeadState(lead_id=LEAD), ExitReason.qualified, T0),
        ExitReason.qualified, T0 + timedelta(hours=1))
    assert later_first.qualified_at == earlier_first.qualified_at == T0


def test_latest_rejection_and_its_reason_are_kept() -> None:
    state = record_rejection(LeadState(lead_id=LEAD), "no_budget", T0 + timedelta(days=1))
    state = record_rejection(state, "bad_timing", T0)
    assert (state.rejected_at, state.rejection_reason) == (T0 + timedelta(days=1), "no_budget")


def test_erasure_keeps_only_the_tombstone_and_ignores_later_events() -> None:
    state = record_rejection(
        record_exit_cause(LeadState(lead_id=LEAD, created_at=T0), ExitReason.qualified, T0),
        "spam", T0)
    gone = erased(state, T0 + timedelta(days=1))
    assert gone == LeadState(lead_id=LEAD, erased_at=T0 + timedelta(days=1))
    assert record_exit_cause(gone, ExitReason.handed_off, T0) == gone
    assert record_rejection(gone, "spam", T0 + timedelta(days=2)) == gone


# --- leaving -------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(ExitReason))
def test_every_active_enrollment_exits_and_finished_ones_stay(reason: ExitReason) -> None:
    running = [enrollment(EnrollmentStatus.active, "welcome"),
               enrollment(EnrollmentStatus.active, "webinar")]
    finished = [enrollment(EnrollmentStatus.completed), enrollment(EnrollmentStatus.exited)]
    assert enrollments_to_exit([*finished, *running], reason) == [e.id for e in running]


def test_no_enrollment_exits_when_none_is_active() -> None:
    assert enrollments_to_exit([enrollment(EnrollmentStatus.completed)],
                               ExitReason.qualified) == []


# --- steps ---------------------------------------------------------------------------------


def test_steps_parse_from_stored_json_by_kind() -> None:
    steps = STEPS_ADAPTER.validate_python([{"kind": "send_email", "template": "welcome"},
                                           {"kind": "wait", "days": 2}])
    assert steps == [SendEmailStep(template="welcome"), WaitStep(days=2)]
    assert steps[1].duration == timedelta(days=2)  # type: ignore[union-attr]


def test_unknown_step_kind_is_refused() -> None:
    with pytest.raises(ValidationError):
        STEPS_ADAPTER.validate_python([{"kind": "send_fax", "template": "welcome"}])


def test_wait_step_that_waits_nothing_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one hour"):
        WaitStep(days=0, hours=0)


def test_sequence_needs_at_least_one_step() -> None:
    with pytest.raises(ValidationError):
        Sequence(key="empty", version=1, entry_rule=EntryRule.new_unqualified_lead, steps=[])


def test_seeded_welcome_sequence_is_a_valid_sequence() -> None:
    spec = importlib.util.spec_from_file_location("nurture_migration_0001", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    sequence = Sequence(key="welcome", version=1, entry_rule=EntryRule.new_unqualified_lead,
                        steps=migration.WELCOME_STEPS)
    assert [s.kind for s in sequence.steps] == ["send_email", "wait", "send_email", "wait",
                                                "send_email"]
    assert [getattr(s, "template", None) for s in sequence.steps][::2] == [
        "welcome", "case-study", "pricing-guide"]


def test_seeded_recycle_onboarding_and_re_engage_sequences_are_valid_and_mail_real_templates(
        ) -> None:
    path = MIGRATION.with_name("0005_default_sequences.py")
    spec = importlib.util.spec_from_file_location("nurture_migration_0005", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    seeded = {s["key"]: SequenceIn.model_validate(
        {"key": s["key"], "entry_rule": s["entry_rule"], "steps": s["steps"], **s["settings"]}
    ).as_sequence() for s in migration.DEFAULT_SEQUENCES}
    assert {key: s.entry_rule for key, s in seeded.items()} == {
        "recycle": EntryRule.lead_rejected, "onboarding": EntryRule.deal_won,
        "re-engage": EntryRule.deal_lost}
    assert seeded["re-engage"].entry_delay == timedelta(days=90)
    assert all(s.segment == {} and s.active for s in seeded.values())
