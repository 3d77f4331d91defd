"""Routing a batch of qualified leads in one go decides exactly what routing them one at a time
decides: same reps, same reasons, same capacity limits, same round-robin credits."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID

from handoff.assignments.domain import FALLBACK_QUEUE_RULE, RoundRobinCursor
from handoff.config import HandoffSettings
from handoff.routing.assign import facts_of, pool_of, reps_involved
from handoff.routing.domain import Condition, RepProfile, RoutingRule
from handoff.routing.intake import RoutingPlan, leads_to_route, plan_routing
from handoff.routing.reference import Rep, RoutingTables
from handoff.routing.repository import LeadState
from leadloop.events.models import LeadProfile, LeadQualified

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SETTINGS = HandoffSettings(default_team="default", accept_sla_s=300)
ANN, BOB, CAT, DAN, EVE = (UUID(int=n) for n in range(1, 6))
RULE = RoutingRule(UUID(int=99), 2, "dach", "sales", [Condition("country", "in", ["DE", "AT"])],
                   accept_sla=timedelta(minutes=10))


def _rep(rep_id: UUID, name: str, team: str, **fields: object) -> Rep:
    return Rep(RepProfile(id=rep_id, name=name, team=team, **fields),  # type: ignore[arg-type]
               f"{name}@sales.example")


TABLES = RoutingTables.of([RULE], [
    _rep(ANN, "ann", "sales", weight=2, capacity=5),
    _rep(BOB, "bob", "sales", weight=1, capacity=2),
    _rep(CAT, "cat", "sales", active=False),
    _rep(DAN, "dan", "keys", capacity=2, named_accounts=frozenset({"acme.example"})),
    _rep(EVE, "eve", "sales", territories=frozenset({"AT"})),
])


def _lead(n: int, country: str = "DE", domain: str = "lead.example") -> LeadQualified:
    return LeadQualified(lead_id=UUID(int=1000 + n), score=80, grade="A", model_version=1,
                         profile=LeadProfile(email=f"l{n}@{domain}", country=country),
                         qualified_at=NOW)


LEADS = [_lead(n, country="AT" if n % 7 == 3 else "DE",
               domain="acme.example" if n % 5 == 0 else "lead.example") for n in range(20)]


def _plan(leads: list[LeadQualified], states: dict[UUID, LeadState],
          loads: dict[UUID, int], cursors: dict[str, RoundRobinCursor]) -> RoutingPlan:
    return plan_routing([(lead, facts_of(lead)) for lead in leads], states, TABLES, loads,
                        cursors, NOW, SETTINGS)


def _routed(plan: RoutingPlan) -> list[tuple[UUID, UUID | None, str, str]]:
    return [(h.assignment.lead_id, h.assignment.rep_id, h.assignment.routing_rule,
             h.assignment.routing_reason) for h in plan.handoffs]


def test_a_batch_routes_like_the_same_leads_one_at_a_time() -> None:
    batch = _plan(LEADS, {}, {BOB: 1}, {})

    loads: dict[UUID, int] = {BOB: 1}
    cursors: dict[str, RoundRobinCursor] = {}
    one_by_one = []
    for lead in LEADS:
        step = _plan([lead], {}, loads, cursors)
        one_by_one += _routed(step)
        for handoff in step.handoffs:
            if handoff.assignment.rep_id is not None:
                loads[handoff.assignment.rep_id] = loads.get(handoff.assignment.rep_id, 0) + 1
        cursors.update(step.cursors)

    assert _routed(batch) == one_by_one
    assert batch.cursors == cursors


def test_a_batch_keeps_every_reps_capacity_and_queues_the_rest() -> None:
    plan = _plan(LEADS, {}, {BOB: 1}, {})
    held = Counter(h.assignment.rep_id for h in plan.handoffs)
    # ann up to 5, bob up to 2 (holding 1 already), dan 2 named accounts, cat inactive.
    assert held[ANN] == 5 and held[BOB] == 1 and held[DAN] == 2 and CAT not in held
    queued = [h for h in plan.handoffs if h.assignment.rep_id is None]
    assert len(queued) == 20 - 8 - held[EVE] > 0
    # Eve (Austria only, room to spare) takes every Austrian lead the others leave.
    assert held[EVE] >= 1 and not [h for h in queued if h.event.profile.country == "AT"]
    queued_rows = [h.assignment for h in queued]
    assert {a.routing_rule for a in queued_rows} == {FALLBACK_QUEUE_RULE}
    assert all(a.status == "queued" and a.sla_deadline is None for a in queued_rows)
    # The third acme lead finds its owner full and goes to the team instead.
    acme = [h for h in plan.handoffs if h.event.profile.email.endswith("@acme.example")]
    assert [h.assignment.rep_id for h in acme][:2] == [DAN, DAN]
    third = acme[2].assignment.routing_reason
    assert "named-account owner dan (acme.example) is unavailable" in third


def test_weights_interleave_inside_one_batch() -> None:
    plan = _plan([_lead(n) for n in range(1, 7) if n % 5], {}, {}, {})
    assert [h.assignment.rep_id for h in plan.handoffs][:3] == [ANN, BOB, ANN]


def test_each_handoff_carries_its_timers_event_and_lead_copy() -> None:
    plan = _plan(LEADS[1:2], {LEADS[1].lead_id: LeadState(created_at=NOW - timedelta(hours=1))},
                 {}, {})
    (handoff,) = plan.handoffs
    assert handoff.assignment.rule_id == RULE.id and handoff.assignment.rule_version == 2
    assert handoff.assignment.accept_sla_s == 600
    assert handoff.timers and handoff.assignment.sla_deadline == NOW + timedelta(minutes=10)
    assert handoff.event.assignment_id == handoff.assignment.id
    assert handoff.event.rep is not None and handoff.event.rep.email == "ann@sales.example"
    assert plan.lead_copies[0]["lead_id"] == LEADS[1].lead_id
    assert plan.speed_to_lead_s == [3600.0]


def test_speed_to_lead_counts_from_the_creation_the_qualification_carries() -> None:
    carried = _lead(1).model_copy(update={"lead_created_at": NOW - timedelta(minutes=2)})
    recorded, unknown = _lead(2), _lead(3)
    # The arrival handoff recorded before lead.qualified carried it is the fallback only.
    states = {lead.lead_id: LeadState(created_at=NOW - timedelta(hours=1))
              for lead in (carried, recorded)}
    plan = _plan([carried, recorded, unknown], states, {}, {})
    assert plan.speed_to_lead_s == [120.0, 3600.0]


def test_erased_leads_open_assignments_and_repeats_in_the_batch_do_not_route() -> None:
    erased, held, fresh = _lead(1), _lead(2), _lead(3)
    again = fresh.model_copy(update={"score": 90})
    routing, skipped = leads_to_route(
        [erased, held, fresh, again],
        {erased.lead_id: LeadState(erased=True), held.lead_id: LeadState(has_open_assignment=True)})
    assert routing == [fresh]
    assert [s.lead_id for s in skipped] == [erased.lead_id, held.lead_id, fresh.lead_id]


def test_pools_and_reps_to_load_are_those_the_choice_reads() -> None:
    facts = facts_of(_lead(5, domain="acme.example"))
    assert pool_of(TABLES, facts, "default") == "team:sales"
    assert reps_involved(TABLES, facts, "default") == [DAN, ANN, BOB, CAT, EVE]
    assert pool_of(TABLES, facts_of(_lead(1, country="US")), "default") == "team:default"
