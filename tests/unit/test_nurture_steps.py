"""Nurture's sequence logic: waits, branches, exits, entry rules and segments."""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from nurture.leads.domain import (
    Enrollment,
    EnrollmentStatus,
    LeadState,
    enroll,
    enrollments_to_exit,
    exit_due,
    record_consent,
    record_exit_cause,
    record_profile,
    should_enroll,
)
from nurture.sending.engine import (
    Complete,
    Engagement,
    LeadFacts,
    Position,
    SendDue,
    Sleep,
    after_send,
    next_action,
)
from nurture.sequences.domain import EntryRule, ExitReason, Sequence, sequences_to_enter
from nurture.sequences.schemas import SequenceOut
from nurture.sequences.steps import (
    STEPS_ADAPTER,
    BranchStep,
    Channel,
    SendStep,
    SequenceStep,
    WaitStep,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
LEAD = uuid.UUID("00000000-0000-4000-8000-000000000002")


def steps(*raw: Mapping[str, Any]) -> list[SequenceStep]:
    return STEPS_ADAPTER.validate_python(list(raw))


def sequence(*raw: Mapping[str, Any], rule: EntryRule = EntryRule.new_unqualified_lead,
             **extra: Any) -> Sequence:
    return Sequence(key="s", version=1, entry_rule=rule, steps=steps(*raw), **extra)


SEND = {"kind": "send_email", "template": "welcome"}
SEND2 = {"kind": "send_email", "template": "case-study"}


# --- waits ---------------------------------------------------------------------------------


def test_wait_sleeps_until_its_duration_has_passed_since_the_step_began() -> None:
    seq = steps({"kind": "wait", "hours": 2}, SEND)
    action = next_action(seq, Position(0, T0), LeadFacts(), T0 + timedelta(minutes=30), UTC_ZONE)
    assert action == Sleep(Position(0, T0), T0 + timedelta(hours=2))


def test_elapsed_wait_moves_on_to_the_next_send() -> None:
    seq = steps({"kind": "wait", "seconds": 5}, SEND)
    now = T0 + timedelta(seconds=5)
    action = next_action(seq, Position(0, T0), LeadFacts(), now, UTC_ZONE)
    assert isinstance(action, SendDue) and action.position.step == 1


def test_a_send_in_its_entry_delay_sleeps_until_the_delay_ends_even_when_woken_early() -> None:
    # Enrolled at T0 with a 30-day entry delay; a page view wakes the enrollment at T0 + 1 h.
    starts = T0 + timedelta(days=30)
    action = next_action(steps(SEND), Position(0, starts), LeadFacts(), T0 + timedelta(hours=1),
                         UTC_ZONE)
    assert action == Sleep(Position(0, starts), starts)
    assert isinstance(next_action(steps(SEND), Position(0, starts), LeadFacts(), starts,
                                  UTC_ZONE), SendDue)


def test_a_late_scheduler_sends_the_step_once_and_then_waits_the_full_next_wait() -> None:
    seq = steps(SEND, {"kind": "wait", "days": 2}, SEND2, {"kind": "wait", "days": 3}, SEND)
    late = T0 + timedelta(days=10)  # down for days: the next step is due, not the ones after
    action = next_action(seq, Position(1, T0), LeadFacts(), late, UTC_ZONE)
    assert isinstance(action, SendDue) and action.position.step == 2
    after = next_action(seq, after_send(action.position, late), LeadFacts(), late, UTC_ZONE)
    assert after == Sleep(Position(3, late, late), late + timedelta(days=3))


def test_wait_until_weekday_and_time_uses_the_leads_time_zone() -> None:
    seq = steps({"kind": "wait", "until": {"weekday": "tue", "at": "09:30"}}, SEND)
    action = next_action(seq, Position(0, T0), LeadFacts(), T0, BERLIN)
    assert isinstance(action, Sleep)
    assert action.due == datetime(2026, 11, 24, 9, 30, tzinfo=BERLIN)


def test_wait_until_a_time_already_past_today_waits_for_tomorrow() -> None:
    seq = steps({"kind": "wait", "until": {"at": "08:00"}}, SEND)
    action = next_action(seq, Position(0, T0), LeadFacts(), T0, UTC_ZONE)
    assert isinstance(action, Sleep) and action.due == datetime(2026, 11, 24, 8, tzinfo=UTC)


def test_wait_of_nothing_or_of_both_kinds_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one hour, minute or second"):
        WaitStep()
    with pytest.raises(ValidationError, match="not both"):
        WaitStep(days=1, until={"at": time(9)})  # type: ignore[arg-type]


def test_last_step_sent_completes_the_sequence() -> None:
    seq = steps(SEND)
    assert isinstance(next_action(seq, after_send(Position(0, T0), T0), LeadFacts(), T0,
                                  UTC_ZONE), Complete)


# --- branches ------------------------------------------------------------------------------

CLICK_BRANCH = {"kind": "branch", "condition": "clicked", "within_days": 3, "then": 3,
                "otherwise": 2}


def _branch_seq() -> list[SequenceStep]:
    # 0 send, 1 branch(clicked in 3 days: step 3, else step 2), 2 send reminder, 3 send offer
    return steps(SEND, CLICK_BRANCH, SEND2, {"kind": "send_email", "template": "pricing-guide"})


def test_branch_takes_then_when_the_lead_clicked_since_the_last_send() -> None:
    facts = LeadFacts(engagements=[Engagement("email_clicked", T0 + timedelta(hours=1))])
    action = next_action(_branch_seq(), Position(1, T0, last_sent_at=T0), facts,
                         T0 + timedelta(hours=2), UTC_ZONE)
    assert isinstance(action, SendDue) and action.position.step == 3


def test_branch_waits_for_its_window_then_takes_otherwise() -> None:
    seq = _branch_seq()
    waiting = next_action(seq, Position(1, T0, T0), LeadFacts(), T0 + timedelta(days=1),
                          UTC_ZONE)
    assert waiting == Sleep(Position(1, T0, T0), T0 + timedelta(days=3))
    timed_out = next_action(seq, Position(1, T0, T0), LeadFacts(), T0 + timedelta(days=3),
                            UTC_ZONE)
    assert isinstance(timed_out, SendDue) and timed_out.position.step == 2


def test_branch_ignores_clicks_before_the_last_send_and_other_kinds() -> None:
    facts = LeadFacts(engagements=[Engagement("email_clicked", T0 - timedelta(minutes=1)),
                                   Engagement("email_opened", T0 + timedelta(minutes=1))])
    action = next_action(_branch_seq(), Position(1, T0, T0), facts, T0 + timedelta(hours=1),
                         UTC_ZONE)
    assert isinstance(action, Sleep)


def test_opened_branch_takes_then_as_soon_as_the_lead_opens_the_last_email() -> None:
    seq = steps(SEND, {**CLICK_BRANCH, "condition": "opened"}, SEND2,
                {"kind": "send_email", "template": "pricing-guide"})
    opened = LeadFacts(engagements=[Engagement("email_opened", T0 + timedelta(hours=1))])
    action = next_action(seq, Position(1, T0, last_sent_at=T0), opened,
                         T0 + timedelta(hours=2), UTC_ZONE)
    assert isinstance(action, SendDue) and action.position.step == 3
    # A click is not an open, and an open of an earlier email does not count.
    other = LeadFacts(engagements=[Engagement("email_clicked", T0 + timedelta(hours=1)),
                                   Engagement("email_opened", T0 - timedelta(hours=1))])
    assert isinstance(next_action(seq, Position(1, T0, T0), other, T0 + timedelta(hours=2),
                                  UTC_ZONE), Sleep)


def test_score_branch_with_a_window_waits_for_the_score_then_takes_then() -> None:
    seq = steps(SEND, {"kind": "branch", "condition": "score_above", "score": 40,
                       "within_days": 2, "then": 3, "otherwise": 2}, SEND2,
                {"kind": "send_email", "template": "pricing-guide"})
    low = next_action(seq, Position(1, T0, T0), LeadFacts(score=10), T0 + timedelta(hours=1),
                      UTC_ZONE)
    assert low == Sleep(Position(1, T0, T0), T0 + timedelta(days=2))
    high = next_action(seq, Position(1, T0, T0), LeadFacts(score=41), T0 + timedelta(hours=2),
                       UTC_ZONE)
    assert isinstance(high, SendDue) and high.position.step == 3


def test_visited_branch_matches_the_page_url() -> None:
    seq = steps(SEND, {"kind": "branch", "condition": "visited", "url_contains": "/pricing",
                       "within_hours": 1, "then": "end"}, SEND2)
    elsewhere = LeadFacts(engagements=[Engagement("page_view", T0, "https://x.example/blog")])
    pricing = LeadFacts(engagements=[Engagement("page_view", T0, "https://x.example/pricing")])
    assert isinstance(next_action(seq, Position(1, T0, T0), elsewhere, T0, UTC_ZONE), Sleep)
    assert isinstance(next_action(seq, Position(1, T0, T0), pricing, T0, UTC_ZONE), Complete)


def test_score_branch_compares_the_latest_score() -> None:
    seq = steps({"kind": "branch", "condition": "score_above", "score": 30, "then": 2}, SEND,
                SEND2)
    low = next_action(seq, Position(0, T0), LeadFacts(score=30), T0, UTC_ZONE)
    high = next_action(seq, Position(0, T0), LeadFacts(score=31), T0, UTC_ZONE)
    assert isinstance(low, SendDue) and low.position.step == 1
    assert isinstance(high, SendDue) and high.position.step == 2


def test_branch_that_jumps_backwards_is_refused() -> None:
    with pytest.raises(ValidationError, match="jumps forward"):
        sequence(SEND, SEND2, {**CLICK_BRANCH, "then": 0})


def test_score_branch_without_a_score_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs a score"):
        BranchStep(condition="score_above")  # type: ignore[arg-type]


def test_other_channel_needs_a_webhook() -> None:
    sms = {"kind": "send", "channel": "sms", "template": "hello"}
    with pytest.raises(ValidationError, match="needs a webhook"):
        sequence(sms)
    seq = sequence(sms, webhooks={"sms": {"url": "https://sms.example/hook"}})
    assert isinstance(seq.steps[0], SendStep)


def test_a_sequences_own_webhook_secret_is_never_shown_back() -> None:
    seq = sequence({"kind": "send", "channel": "sms", "template": "hello"},
                   webhooks={"sms": {"url": "https://sms.example/hook",
                                     "secret": "s3cret-of-this-sequence"}})
    assert seq.webhooks[Channel.sms].secret == "s3cret-of-this-sequence"
    shown = SequenceOut.model_validate({**seq.settings, "key": seq.key, "version": 1,
                                        "entry_rule": seq.entry_rule, "active": True,
                                        "steps": seq.steps, "created_at": T0})
    assert shown.model_dump(mode="json")["webhooks"] == {
        "sms": {"url": "https://sms.example/hook", "own_secret": True}}
    with pytest.raises(ValidationError, match="at least 16"):
        sequence({"kind": "send", "channel": "sms", "template": "hello"},
                 webhooks={"sms": {"url": "https://sms.example/hook", "secret": "short"}})


# --- exits and entry -----------------------------------------------------------------------


def _enrollment(key: str, version: int = 1) -> Enrollment:
    return Enrollment(id=uuid.uuid4(), lead_id=LEAD, sequence_key=key, sequence_version=version,
                      status=EnrollmentStatus.active, current_step=0, next_step_due_at=T0,
                      enrolled_at=T0)


def test_sequence_that_does_not_exit_on_a_reason_keeps_running() -> None:
    onboarding, welcome = _enrollment("onboarding"), _enrollment("welcome")
    exit_on = {("onboarding", 1): [ExitReason.unsubscribed]}
    assert enrollments_to_exit([onboarding, welcome], ExitReason.disqualified, exit_on) == [
        welcome.id]


@pytest.mark.parametrize("reason", [ExitReason.qualified, ExitReason.handed_off])
def test_qualified_and_handed_off_stop_a_sequence_whatever_its_exit_rules(
        reason: ExitReason) -> None:
    only_replies = sequence(SEND, exit_on=[ExitReason.replied])
    assert reason in only_replies.exit_on and ExitReason.replied in only_replies.exit_on
    state = record_exit_cause(LeadState(lead_id=LEAD), reason, T0)
    assert exit_due(state, only_replies, T0 + timedelta(hours=1)) == reason
    onboarding = _enrollment("s")
    assert enrollments_to_exit([onboarding], reason,
                               {("s", 1): only_replies.exit_on}) == [onboarding.id]


def test_new_lead_sequence_exits_on_any_milestone_found_before_a_send() -> None:
    state = record_exit_cause(LeadState(lead_id=LEAD), ExitReason.handed_off, T0)
    assert exit_due(state, sequence(SEND), T0 + timedelta(hours=1)) == ExitReason.handed_off


def test_recycle_sequence_only_exits_on_milestones_after_it_started() -> None:
    recycle = sequence(SEND, rule=EntryRule.lead_rejected)
    old = record_exit_cause(LeadState(lead_id=LEAD), ExitReason.qualified, T0)
    assert exit_due(old, recycle, T0 + timedelta(days=1)) is None
    again = old.model_copy(update={"handed_off_at": T0 + timedelta(days=2)})
    assert exit_due(again, recycle, T0 + timedelta(days=1)) == ExitReason.handed_off


def test_unsubscribed_lead_exits_every_sequence_whatever_its_exit_rules() -> None:
    onboarding = sequence(SEND, rule=EntryRule.deal_won, exit_on=[])
    state = LeadState(lead_id=LEAD, unsubscribed_at=T0 + timedelta(days=1))
    assert exit_due(state, onboarding, T0) == ExitReason.unsubscribed


def test_rejected_or_customer_leads_may_enter_recycle_and_onboarding_unless_unsubscribed(
) -> None:
    sold = record_exit_cause(LeadState(lead_id=LEAD), ExitReason.handed_off, T0)
    assert not should_enroll(sold, EntryRule.new_unqualified_lead)
    assert should_enroll(sold, EntryRule.lead_rejected)
    assert should_enroll(sold, EntryRule.deal_won)
    gone = sold.model_copy(update={"unsubscribed_at": T0})
    assert not should_enroll(gone, EntryRule.deal_lost)


def test_segment_matches_every_attribute_case_insensitively() -> None:
    german_q4 = sequence(SEND, segment={"country": ["DE", "AT"], "utm_campaign": ["q4"]})
    everyone = sequence(SEND)
    assert sequences_to_enter([german_q4, everyone], EntryRule.new_unqualified_lead,
                              {"country": "de", "utm_campaign": "Q4"}) == [german_q4, everyone]
    assert sequences_to_enter([german_q4], EntryRule.new_unqualified_lead,
                              {"country": "FR", "utm_campaign": "q4"}) == []


def test_entry_delay_makes_the_first_step_due_later() -> None:
    lost = sequence(SEND, rule=EntryRule.deal_lost, entry_delay_days=30)
    enrollment = enroll(LEAD, lost, T0)
    assert enrollment.next_step_due_at == T0 + timedelta(days=30)
    assert enrollment.enrolled_at == T0


def test_older_profile_never_overwrites_a_newer_one() -> None:
    state = record_profile(LeadState(lead_id=LEAD), {"email": "new@x.example"}, True, {}, T0)
    stale = record_profile(state, {"email": "old@x.example"}, False, {}, T0 - timedelta(1))
    assert stale.email == "new@x.example" and stale.email_consent


def test_withdrawn_consent_wins_over_an_older_profile_snapshot() -> None:
    state = record_profile(LeadState(lead_id=LEAD), {"email": "a@x.example"}, True, {}, T0)
    withdrawn = record_consent(state, False, T0 + timedelta(hours=1))
    replayed = record_profile(withdrawn, {"email": "a@x.example"}, True, {}, T0)
    assert not replayed.email_consent
    regranted = record_consent(replayed, True, T0 + timedelta(hours=2))
    assert regranted.email_consent


def test_the_scheduler_reads_what_leads_did_only_for_enrollments_with_a_branch_ahead() -> None:
    from nurture.sending.repository import DueEnrollment
    from nurture.sending.worker import _watched_since

    branching = sequence(SEND, {"kind": "branch", "condition": "visited", "within_days": 2,
                                "then": 2}, SEND)
    plain = Sequence(key="plain", version=1, entry_rule=EntryRule.new_unqualified_lead,
                     steps=steps(SEND, {"kind": "wait", "days": 2}, SEND))
    seqs = {("s", 1): branching, ("plain", 1): plain}
    one, two, three = (uuid.uuid4() for _ in range(3))

    def due(lead: uuid.UUID, key: str, step: int, started: datetime,
            sent: datetime | None = None) -> DueEnrollment:
        return DueEnrollment(id=uuid.uuid4(), lead_id=lead, sequence_key=key,
                             sequence_version=1, current_step=step, step_started_at=started,
                             last_sent_at=sent, enrolled_at=T0, lead=LeadState(lead_id=lead))

    now = T0 + timedelta(days=1)
    claimed = [
        due(one, "s", 1, T0 + timedelta(hours=2), sent=T0 + timedelta(hours=1)),  # at the branch
        due(one, "s", 0, T0 + timedelta(hours=3)),  # a branch ahead, entered later
        due(two, "s", 2, T0),  # past its branch: nothing the lead does changes its way
        due(two, "plain", 0, T0),  # no branch at all
        due(three, "s", 0, now + timedelta(days=3)),  # in its entry delay: looks back from now
    ]
    assert _watched_since(claimed, seqs, now) == {one: T0 + timedelta(hours=1), three: now}
