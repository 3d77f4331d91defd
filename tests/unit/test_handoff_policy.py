"""Handoff's routing policy: rules, territories, segments, availability, named accounts, SLA,
webhook signatures and retry schedule."""

import random
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from standardwebhooks import Webhook

from handoff.assignments.domain import (
    FALLBACK_QUEUE_RULE,
    AssignmentState,
    AssignmentStatus,
    RoundRobinCursor,
    convert,
    route_round_robin,
)
from handoff.exceptions import TransitionNotAllowed
from handoff.routing.domain import (
    Condition,
    LeadFacts,
    RepProfile,
    RoutingRule,
    WorkingHours,
    first_matching_rule,
    named_account_owner,
    plan_route,
    segment_of,
    team_pool,
)
from handoff.sla.domain import (
    Firing,
    TimerKind,
    add_working_time,
    firing_of,
    plan_breach,
    timers_for,
)
from handoff.webhooks.schedule import gives_up, retry_delay
from handoff.webhooks.worker import secrets_in_use
from leadloop.webhooks import headers_for, new_secret

ANN, BOB, CAT, DAN = (UUID(int=n) for n in (1, 2, 3, 4))
NAMES = {ANN: "ann", BOB: "bob", CAT: "cat", DAN: "dan"}
MONDAY_10_UTC = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def lead(**profile: object) -> LeadFacts:
    base: dict[str, object] = {"email": "jane@acme.com", "country": "DE", "company_size": 200}
    base.update(profile)
    score = int(base.pop("score", 60))  # type: ignore[call-overload]
    grade = str(base.pop("grade", "A"))
    return LeadFacts.of(profile=base, score=score, grade=grade,
                        source={"channel": "form", "campaign": "q4"})


def rep(rep_id: UUID, **fields: object) -> RepProfile:
    return RepProfile(id=rep_id, name=NAMES[rep_id], team="sales", **fields)  # type: ignore[arg-type]


def route_many(reps: list[RepProfile], facts: LeadFacts, n: int,
               at: datetime = MONDAY_10_UTC) -> Counter[str]:
    cursor = RoundRobinCursor()
    counts: Counter[str] = Counter()
    for _ in range(n):
        pool = team_pool(reps, facts, at, respect_working_hours=True)
        decision = route_round_robin("sales", pool.candidates, cursor)
        counts[NAMES[decision.rep_id] if decision.rep_id else "queue"] += 1
        cursor = decision.cursor
    return counts


# --- rules ---------------------------------------------------------------------------------


def test_first_matching_rule_in_position_order_picks_the_team() -> None:
    rules = [
        RoutingRule("r1", 1, "enterprise", "enterprise", [Condition("company_size", "gte", 1000)]),
        RoutingRule("r2", 3, "hot-dach", "dach", [Condition("score", "gte", 50),
                                                  Condition("country", "in", ["de", "AT"])]),
        RoutingRule("r3", 1, "catch-all", "inside-sales"),
    ]
    assert first_matching_rule(rules, lead()).team == "dach"  # type: ignore[union-attr]
    assert first_matching_rule(rules, lead(company_size=5000)).label == "enterprise@v1"  # type: ignore[union-attr]
    assert first_matching_rule(rules, lead(score=10)).team == "inside-sales"  # type: ignore[union-attr]


def test_no_rule_matches_when_a_condition_field_is_missing() -> None:
    rule = RoutingRule("r", 1, "x", "x", [Condition("industry", "eq", "saas")])
    assert first_matching_rule([rule], lead()) is None
    assert first_matching_rule([rule], lead(industry="SaaS")) is rule


def test_rules_match_on_grade_source_and_custom_properties() -> None:
    rule = RoutingRule("r", 1, "x", "x", [Condition("grade", "eq", "a"),
                                          Condition("source.campaign", "eq", "q4"),
                                          Condition("properties.plan", "in", ["pro", "team"])])
    assert rule.matches(lead(properties={"plan": "pro"}))
    assert not rule.matches(lead(properties={"plan": "free"}))
    assert not rule.matches(lead(grade="B", properties={"plan": "pro"}))


def test_a_comparison_of_mismatched_types_does_not_match_instead_of_failing() -> None:
    assert not Condition("properties.seats", "gte", 10).holds(lead(properties={"seats": "many"}))


# --- territories and segments --------------------------------------------------------------


def test_leads_go_only_to_reps_covering_their_territory() -> None:
    reps = [rep(ANN, territories=frozenset({"DE", "AT"})), rep(BOB, territories=frozenset({"FR"})),
            rep(CAT, territories=frozenset({"US-CA"}))]
    assert route_many(reps, lead(country="DE"), 4) == {"ann": 4}
    assert route_many(reps, lead(country="US", region="ca"), 2) == {"cat": 2}
    assert route_many(reps, lead(country="IT"), 1) == {"queue": 1}


def test_rep_without_territories_covers_every_country() -> None:
    reps = [rep(ANN, territories=frozenset({"FR"})), rep(BOB)]
    assert route_many(reps, lead(country="DE"), 3) == {"bob": 3}


def test_segments_follow_company_size_bands() -> None:
    assert [segment_of(s) for s in (None, 10, 100, 999, 1000)] == [
        None, "smb", "mid-market", "mid-market", "enterprise"]
    reps = [rep(ANN, segments=frozenset({"enterprise"})), rep(BOB, segments=frozenset({"smb"}))]
    assert route_many(reps, lead(company_size=20_000), 2) == {"ann": 2}
    assert route_many(reps, lead(company_size=None), 1) == {"queue": 1}


# --- weights, capacity, availability -------------------------------------------------------


def test_weights_hold_within_five_percent_over_a_thousand_leads() -> None:
    reps = [rep(ANN, weight=5), rep(BOB, weight=3), rep(CAT, weight=2)]
    counts = route_many(reps, lead(), 1000)
    for name, share in (("ann", 0.5), ("bob", 0.3), ("cat", 0.2)):
        assert abs(counts[name] / 1000 - share) <= 0.05 * share, counts


def test_rep_at_capacity_gets_no_more_leads() -> None:
    reps = [rep(ANN, capacity=3, open_assignments=3), rep(BOB, capacity=3, open_assignments=1)]
    assert route_many(reps, lead(), 2) == {"bob": 2}


def test_out_of_office_rep_is_skipped_only_during_the_absence() -> None:
    away = rep(ANN, out_of_office_from=MONDAY_10_UTC - timedelta(days=1),
               out_of_office_to=MONDAY_10_UTC + timedelta(days=2))
    reps = [away, rep(BOB)]
    assert route_many(reps, lead(), 4) == {"bob": 4}
    assert route_many(reps, lead(), 4, at=MONDAY_10_UTC + timedelta(days=3)) == {"ann": 2,
                                                                                  "bob": 2}
    pool = team_pool(reps, lead(), MONDAY_10_UTC, True)
    assert "1 out of office" in route_round_robin("sales", pool.candidates,
                                                  RoundRobinCursor()).reason


def test_rep_outside_working_hours_in_its_time_zone_is_skipped() -> None:
    # 10:00 UTC is 02:00 in Los Angeles and 11:00 in Berlin.
    la = WorkingHours("America/Los_Angeles", time(9), time(17))
    berlin = WorkingHours("Europe/Berlin", time(9), time(17))
    reps = [rep(ANN, working_hours=la), rep(BOB, working_hours=berlin)]
    assert route_many(reps, lead(), 3) == {"bob": 3}
    saturday = MONDAY_10_UTC - timedelta(days=2)
    assert route_many(reps, lead(), 1, at=saturday) == {"queue": 1}


def test_working_hours_are_ignored_when_the_rule_says_so() -> None:
    la = WorkingHours("America/Los_Angeles", time(9), time(17))
    pool = team_pool([rep(ANN, working_hours=la)], lead(), MONDAY_10_UTC,
                     respect_working_hours=False)
    assert route_round_robin("sales", pool.candidates, RoundRobinCursor()).rep_id == ANN


def test_night_shift_across_midnight() -> None:
    night = WorkingHours("UTC", time(22), time(6), days=frozenset(range(7)))
    assert night.contains(MONDAY_10_UTC.replace(hour=23))
    assert night.contains(MONDAY_10_UTC.replace(hour=3))
    assert not night.contains(MONDAY_10_UTC)


def test_lead_goes_to_the_fallback_queue_when_nobody_fits() -> None:
    reps = [rep(ANN, active=False), rep(BOB, capacity=1, open_assignments=1)]
    pool = team_pool(reps, lead(), MONDAY_10_UTC, True)
    decision = route_round_robin("sales", pool.candidates, RoundRobinCursor())
    assert decision.rep_id is None and decision.rule == FALLBACK_QUEUE_RULE


# --- named accounts ------------------------------------------------------------------------


def test_named_account_owner_is_found_by_email_or_website_domain() -> None:
    reps = [rep(ANN), rep(BOB, named_accounts=frozenset({"acme.com"}))]
    match = named_account_owner(reps, lead(email="cfo@acme.com"), MONDAY_10_UTC)
    assert match is not None and match.owner.id == BOB and match.available
    by_site = named_account_owner(reps, lead(email="x@gmail.com", website="https://www.Acme.com/x"),
                                  MONDAY_10_UTC)
    assert by_site is not None and by_site.owner.id == BOB
    assert named_account_owner(reps, lead(email="x@other.com"), MONDAY_10_UTC) is None


def test_named_account_owner_out_of_office_is_not_available() -> None:
    owner = rep(BOB, named_accounts=frozenset({"acme.com"}),
                out_of_office_from=MONDAY_10_UTC - timedelta(hours=1))
    match = named_account_owner([owner], lead(), MONDAY_10_UTC)
    assert match is not None and not match.available


def test_available_named_account_owner_wins_over_a_matching_rule() -> None:
    rules = [RoutingRule("r1", 2, "dach", "dach", [Condition("country", "eq", "DE")])]
    owner = rep(BOB, named_accounts=frozenset({"acme.com"}))
    plan = plan_route(rules, lead(), [owner], MONDAY_10_UTC, "default")
    assert plan.owner is not None and plan.owner.owner.id == BOB
    assert plan.rule is rules[0] and plan.team == "dach"  # the rule still matched (its SLA)


def test_unavailable_named_account_owner_leaves_the_lead_to_the_rules_team() -> None:
    rules = [RoutingRule("r1", 2, "dach", "dach", [Condition("country", "eq", "DE")])]
    away = rep(BOB, named_accounts=frozenset({"acme.com"}),
               out_of_office_from=MONDAY_10_UTC - timedelta(hours=1))
    plan = plan_route(rules, lead(), [away], MONDAY_10_UTC, "default")
    assert plan.owner is None and plan.team == "dach"
    assert plan.owner_unavailable is not None and plan.owner_unavailable.owner.id == BOB
    # Working hours do not hold an owner back: the account expects its owner.
    night = rep(BOB, named_accounts=frozenset({"acme.com"}),
                working_hours=WorkingHours("Europe/Berlin", time(9), time(10)))
    assert plan_route(rules, lead(), [night], MONDAY_10_UTC, "default").owner is not None


def test_no_rule_and_no_owner_means_the_default_team() -> None:
    plan = plan_route([], lead(email="x@other.com"), [rep(BOB, named_accounts=frozenset({
        "acme.com"}))], MONDAY_10_UTC, "default")
    assert (plan.rule, plan.team, plan.owner, plan.owner_unavailable) == (
        None, "default", None, None)


# --- SLA -----------------------------------------------------------------------------------


BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
OFFICE_BERLIN = WorkingHours("Europe/Berlin", time(9), time(17))  # Monday to Friday


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)  # type: ignore[misc]


def test_reminder_fires_at_half_time_and_deadline_at_the_sla() -> None:
    timers = timers_for(MONDAY_10_UTC, timedelta(minutes=5))
    assert timers == {TimerKind.reminder: MONDAY_10_UTC + timedelta(seconds=150),
                      TimerKind.deadline: MONDAY_10_UTC + timedelta(minutes=5)}


def test_sla_inside_working_hours_is_plain_clock_time() -> None:
    assert add_working_time(berlin(2026, 11, 23, 10, 0), timedelta(minutes=5),
                            OFFICE_BERLIN) == berlin(2026, 11, 23, 10, 5)


def test_sla_crossing_the_end_of_the_day_continues_next_morning() -> None:
    # Monday 16:58: two working minutes today, three tomorrow from 09:00.
    timers = timers_for(berlin(2026, 11, 23, 16, 58), timedelta(minutes=5), OFFICE_BERLIN)
    assert timers[TimerKind.deadline] == berlin(2026, 11, 24, 9, 3)
    assert timers[TimerKind.reminder] == berlin(2026, 11, 24, 9, 0, 30)  # half the working time


def test_sla_skips_the_weekend() -> None:
    friday = berlin(2026, 11, 27, 16, 58)
    assert add_working_time(friday, timedelta(minutes=5), OFFICE_BERLIN) == berlin(
        2026, 11, 30, 9, 3)
    # Handed off on Saturday: the clock starts on Monday at nine.
    assert add_working_time(berlin(2026, 11, 28, 11, 0), timedelta(minutes=5),
                            OFFICE_BERLIN) == berlin(2026, 11, 30, 9, 5)


def test_same_handoff_moment_gives_different_deadlines_in_two_time_zones() -> None:
    at = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 14:00 in Berlin, 08:00 in New York
    office_new_york = WorkingHours("America/New_York", time(9), time(17))
    assert add_working_time(at, timedelta(minutes=5), OFFICE_BERLIN) == at + timedelta(
        minutes=5)
    assert add_working_time(at, timedelta(minutes=5), office_new_york) == datetime(
        2026, 11, 23, 9, 5, tzinfo=NEW_YORK)


def test_sla_over_a_weekend_with_a_daylight_saving_change_keeps_local_office_hours() -> None:
    # Berlin moves to summer time on Sunday 29 March 2026; Monday still starts at 09:00 local,
    # which is 07:00 UTC, not the 08:00 UTC that Friday's opening was.
    friday = berlin(2026, 3, 27, 16, 55)
    deadline = add_working_time(friday, timedelta(minutes=10), OFFICE_BERLIN)
    assert deadline == berlin(2026, 3, 30, 9, 5)
    assert deadline.astimezone(UTC) == datetime(2026, 3, 30, 7, 5, tzinfo=UTC)


def test_night_shift_across_midnight_and_a_daylight_saving_change_counts_real_time() -> None:
    # 22:00 Saturday to 06:00 Sunday lasts 7 real hours on the night clocks go forward.
    nights = WorkingHours("Europe/Berlin", time(22), time(6), frozenset(range(7)))
    saturday = berlin(2026, 3, 28, 22, 0)
    assert add_working_time(saturday, timedelta(hours=6), nights) == berlin(2026, 3, 29, 5, 0)
    assert add_working_time(saturday, timedelta(hours=7, minutes=30), nights) == berlin(
        2026, 3, 29, 22, 30)
    # Handed off at 02:00 on an ordinary night: already inside the shift that began at 22:00.
    assert add_working_time(berlin(2026, 11, 24, 2, 0), timedelta(minutes=5), nights) == berlin(
        2026, 11, 24, 2, 5)


def test_rep_without_working_hours_gets_clock_time() -> None:
    friday = berlin(2026, 11, 27, 16, 58)
    assert add_working_time(friday, timedelta(minutes=5), None) == berlin(2026, 11, 27, 17, 3)


def test_first_breach_reassigns_away_from_the_breaching_rep() -> None:
    plan = plan_breach(breaches=1, escalate_after=2, manager_id=DAN, manager_available=True,
                       breached_reps=frozenset({ANN}))
    assert plan.escalate_to is None and plan.exclude == {ANN}


def test_repeated_breaches_escalate_to_the_manager() -> None:
    plan = plan_breach(breaches=2, escalate_after=2, manager_id=DAN, manager_available=True,
                       breached_reps=frozenset({ANN, BOB}))
    assert plan.escalate_to == DAN


def test_escalation_falls_back_to_the_team_when_the_manager_cannot_take_it() -> None:
    plan = plan_breach(breaches=3, escalate_after=2, manager_id=DAN, manager_available=False,
                       breached_reps=frozenset({ANN}))
    assert plan.escalate_to is None


@pytest.mark.parametrize(("kind", "status", "firing"), [
    (TimerKind.reminder, AssignmentStatus.assigned, Firing.remind),
    (TimerKind.deadline, AssignmentStatus.assigned, Firing.breach),
    (TimerKind.reminder, AssignmentStatus.accepted, Firing.moot),
    (TimerKind.deadline, AssignmentStatus.rejected, Firing.moot),
    (TimerKind.deadline, AssignmentStatus.reassigned, Firing.moot),
    (TimerKind.queue_alert, AssignmentStatus.queued, Firing.alert),
    (TimerKind.queue_alert_mail, AssignmentStatus.queued, Firing.mail),
    (TimerKind.queue_alert, AssignmentStatus.assigned, Firing.moot),
    (TimerKind.queue_alert_mail, AssignmentStatus.reassigned, Firing.moot),
])
def test_a_due_timer_acts_only_while_its_assignment_is_in_the_state_it_watches(
        kind: TimerKind, status: AssignmentStatus, firing: Firing) -> None:
    assert firing_of(kind.value, status.value) is firing


# --- webhooks ------------------------------------------------------------------------------


def test_signature_verifies_with_the_standard_webhooks_library() -> None:
    secret = new_secret()
    now = int(datetime.now(UTC).timestamp())
    body = '{"type":"leadloop.lead.handed_off.v1","data":{}}'
    headers = headers_for([new_secret(), secret], "msg_1", now, body)
    assert Webhook(secret).verify(body, headers) == {"type": "leadloop.lead.handed_off.v1",
                                                     "data": {}}


def test_tampered_body_fails_verification() -> None:
    secret = new_secret()
    now = int(datetime.now(UTC).timestamp())
    headers = headers_for([secret], "msg_1", now, '{"a":1}')
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify('{"a":2}', headers)


def test_retry_delays_grow_exponentially_with_jitter_and_cap() -> None:
    rng = random.Random(7)
    base, cap = timedelta(seconds=2), timedelta(hours=1)
    delays = [retry_delay(n, base, cap, rng) for n in range(1, 16)]
    assert timedelta(seconds=1) <= delays[0] <= timedelta(seconds=2)
    assert timedelta(seconds=8) <= delays[3] <= timedelta(seconds=16)
    assert all(d <= cap for d in delays) and delays[-1] >= cap / 2


def test_delivery_gives_up_after_the_retry_window() -> None:
    assert not gives_up(MONDAY_10_UTC, MONDAY_10_UTC + timedelta(hours=23), timedelta(hours=24))
    assert gives_up(MONDAY_10_UTC, MONDAY_10_UTC + timedelta(hours=24), timedelta(hours=24))


def test_rotated_out_secret_stops_signing_once_it_expires() -> None:
    expires = (MONDAY_10_UTC + timedelta(hours=1)).isoformat()
    stored = [{"secret": "whsec_new", "expires_at": None},
              {"secret": "whsec_old", "expires_at": expires}]
    assert secrets_in_use(stored, MONDAY_10_UTC) == ["whsec_new", "whsec_old"]
    assert secrets_in_use(stored, MONDAY_10_UTC + timedelta(hours=2)) == ["whsec_new"]


# --- conversion ----------------------------------------------------------------------------


def test_only_an_accepted_lead_converts_and_converting_twice_changes_nothing() -> None:
    accepted = AssignmentState(status=AssignmentStatus.accepted, rep_id=ANN)
    converted = convert(accepted, MONDAY_10_UTC)
    assert converted.changed and converted.state.status is AssignmentStatus.converted
    assert not convert(converted.state, MONDAY_10_UTC).changed
    with pytest.raises(TransitionNotAllowed, match="accept it first"):
        convert(AssignmentState(status=AssignmentStatus.assigned, rep_id=ANN), MONDAY_10_UTC)
