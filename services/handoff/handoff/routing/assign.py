"""Choosing who gets a lead and handing it off: named accounts, rules, round-robin, timers.

`decide` is the whole choice, pure: rules and reps from memory (routing_tables), each rep's
open leads and the pool's round-robin credits as read under the pool's lock. The consumer
routes a batch with it (service.route_qualified_leads); the SLA timer and the fallback queue
route one lead at a time with `choose` and `hand_off`, which load and store the same way.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from handoff.assignments.domain import (
    FALLBACK_QUEUE_RULE,
    ROUND_ROBIN_RULE,
    AssignmentStatus,
    RoundRobinCursor,
    route_round_robin,
)
from handoff.config import HandoffSettings
from handoff.customers.domain import EXISTING_CUSTOMER_RULE, CustomerContext, rule_routes_customers
from handoff.routing import repository as routing_repository
from handoff.routing.domain import (
    NAMED_ACCOUNT_RULE,
    LeadFacts,
    RepProfile,
    RoutingRule,
    describe_match,
    first_matching_rule,
    plan_route,
    team_pool,
)
from handoff.routing.reference import Rep, RoutingTables, routing_tables
from handoff.routing.repository import AssignmentRow
from handoff.sla.domain import TimerKind, timers_for
from handoff.webhooks import outbound
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadHandedOff, LeadQualified, RepRef


@dataclass(frozen=True, slots=True)
class Choice:
    """Who gets the lead (None: the fallback queue), by which rule, why, and its accept SLA."""

    rep: Rep | None
    team: str
    rule: str
    reason: str
    accept_sla: timedelta
    rule_id: UUID | None = None
    rule_version: int | None = None
    pool: str | None = None
    cursor: RoundRobinCursor | None = None
    customer: CustomerContext | None = None


def facts_of(lead: LeadQualified) -> LeadFacts:
    """What routing looks at in a qualified lead."""
    return LeadFacts.of(profile=lead.profile.model_dump(mode="json"), score=lead.score,
                        grade=lead.grade, source=lead.source.model_dump(mode="json"))


def _rule_and_team(tables: RoutingTables, facts: LeadFacts,
                   default_team: str) -> tuple[RoutingRule | None, str]:
    rule = first_matching_rule(tables.rules, facts)
    return rule, rule.team if rule else default_team


def pool_of(tables: RoutingTables, facts: LeadFacts, default_team: str) -> str:
    """The round-robin pool the lead is routed in unless a named-account owner takes it."""
    return f"team:{_rule_and_team(tables, facts, default_team)[1]}"


def reps_involved(tables: RoutingTables, facts: LeadFacts, default_team: str,
                  customer: CustomerContext | None = None) -> list[UUID]:
    """The reps whose load the choice for this lead looks at (owners and the team)."""
    _rule, team = _rule_and_team(tables, facts, default_team)
    owner = [customer.owner_rep_id] if customer and customer.owner_rep_id else []
    return [*owner, *(rep.id for rep in (*tables.owners_of(facts.domains), *tables.team(team)))]


def _customer_owner(tables: RoutingTables, customer: CustomerContext | None,
                    rule: RoutingRule | None, now: datetime, loads: "RepLoads",
                    exclude: frozenset[UUID]) -> tuple[Rep | None, str | None]:
    """The owner who takes an existing customer's lead, or why nobody does (None, None: the
    lead is no existing customer, or a rule routes customers itself)."""
    if customer is None or not customer.existing_customer or customer.owner_rep_id is None \
            or rule_routes_customers(rule):
        return None, None
    owner = tables.rep(customer.owner_rep_id)
    if owner is None or owner.id in exclude:
        return None, "the customer's owner is no longer a rep here" if owner is None else None
    # Like a named-account owner: working hours do not pass it on, absence or a full desk do.
    if not loads.profile(owner).candidate(now, respect_working_hours=False).available:
        return None, f"the customer's owner {owner.name} is unavailable"
    return owner, None


class RepLoads:
    """Each rep's open leads, counted up as a batch assigns, and the routing profile carrying
    them (made once per change, not once per lead and rep)."""

    def __init__(self, held: Mapping[UUID, int]) -> None:
        self._held = dict(held)
        self._profiles: dict[UUID, RepProfile] = {}

    def profile(self, rep: Rep) -> RepProfile:
        """The rep's routing profile with its current load."""
        profile = self._profiles.get(rep.id)
        if profile is None:
            profile = self._profiles[rep.id] = replace(
                rep.profile, open_assignments=self._held.get(rep.id, 0))
        return profile

    def add(self, rep_id: UUID) -> None:
        """The rep got one more lead."""
        self._held[rep_id] = self._held.get(rep_id, 0) + 1
        self._profiles.pop(rep_id, None)


def decide(tables: RoutingTables, facts: LeadFacts, now: datetime, settings: HandoffSettings,
           loads: RepLoads, cursors: Mapping[str, RoundRobinCursor],
           exclude: frozenset[UUID] = frozenset(),
           customer: CustomerContext | None = None) -> Choice:
    """Who gets the lead: an existing customer's owner (handoff.customers), else an available
    named-account owner, else the next available rep of the first matching rule's team (else
    the default team) by weighted round-robin, else the fallback queue. `loads` are the reps'
    open leads, `cursors` the pools' credits."""
    with_load = loads.profile
    owner, owner_passed = _customer_owner(tables, customer, first_matching_rule(tables.rules,
                                                                                facts),
                                          now, loads, exclude)
    if owner is not None and customer is not None:
        return Choice(owner, owner.team, EXISTING_CUSTOMER_RULE,
                      f"existing customer: {owner.name} is the {customer.owner_why}",
                      settings.customer_accept_sla, customer=customer)
    owner_reps = [rep for rep in tables.owners_of(facts.domains) if rep.id not in exclude]
    plan = plan_route(tables.rules, facts, [with_load(rep) for rep in owner_reps], now,
                      settings.default_team)
    rule, team = plan.rule, plan.team
    sla = rule.accept_sla if rule and rule.accept_sla else settings.accept_sla
    rule_ids: dict[str, Any] = (
        {"rule_id": rule.id, "rule_version": rule.version} if rule else {})
    why_rule = describe_match(rule) if rule else "no routing rule matched: default team"

    if plan.owner is not None:
        match = plan.owner
        named = tables.rep(match.owner.id)
        assert named is not None
        return Choice(named, named.team, NAMED_ACCOUNT_RULE,
                      f"named account: {match.domain} is owned by {named.name}", sla,
                      customer=customer, **rule_ids)

    pool_name = f"team:{team}"
    cursor = cursors.get(pool_name, RoundRobinCursor())
    members = tables.team(team)
    respect = rule.respect_working_hours if rule else True
    pool = team_pool([with_load(rep) for rep in members], facts, now, respect, exclude)
    decision = route_round_robin(team, pool.candidates, cursor)
    reasons = [why_rule]
    if owner_passed is not None:
        reasons.append(owner_passed)
    if plan.owner_unavailable is not None:
        passed = plan.owner_unavailable
        reasons.append(f"named-account owner {passed.owner.name} ({passed.domain}) is unavailable")
    if pool.not_covering:
        reasons.append(f"{pool.not_covering} rep(s) do not cover the lead's territory/segment")
    if exclude:
        reasons.append(f"{len(exclude)} rep(s) already let it lapse")
    reasons.append(decision.reason)
    chosen = tables.rep(decision.rep_id) if decision.rep_id is not None else None
    label = FALLBACK_QUEUE_RULE if chosen is None else (rule.label if rule else ROUND_ROBIN_RULE)
    return Choice(chosen, team, label, "; ".join(reasons), sla, pool=pool_name,
                  cursor=decision.cursor, customer=customer, **rule_ids)


async def choose(uow: UnitOfWork, facts: LeadFacts, now: datetime, settings: HandoffSettings,
                 exclude: frozenset[UUID] = frozenset()) -> Choice:
    """Decide who gets one lead; the team's round-robin pool stays locked until the
    transaction ends, so the loads read here hold until the hand-off commits."""
    tables = await routing_tables(uow.connection)
    cursors = await routing_repository.lock_pools(
        uow, [pool_of(tables, facts, settings.default_team)])
    loads = await routing_repository.rep_loads(
        uow, reps_involved(tables, facts, settings.default_team))
    return decide(tables, facts, now, settings, RepLoads(loads), cursors, exclude)


@dataclass(frozen=True, slots=True)
class HandOff:
    """A decided hand-off: the assignment, its SLA timers and the lead.handed_off event."""

    assignment: AssignmentRow
    timers: Mapping[TimerKind, datetime]
    event: LeadHandedOff


def handed_off(lead: LeadQualified, choice: Choice, now: datetime,
               breaches: int = 0) -> HandOff:
    """The assignment, timers and event of handing `lead` off as `choice` says (pure)."""
    rep = choice.rep
    # The SLA is counted in the rep's working time (clock time for a rep without hours).
    # A lead nobody can take alerts the team's managers at once (queue_alerts).
    timers = (timers_for(now, choice.accept_sla, rep.working_hours) if rep is not None
              else {TimerKind.queue_alert: now})
    deadline = timers.get(TimerKind.deadline)
    assignment = AssignmentRow(
        id=uuid4(), lead_id=lead.lead_id, rep_id=rep.id if rep else None, team=choice.team,
        status=(AssignmentStatus.assigned if rep else AssignmentStatus.queued).value,
        routing_rule=choice.rule, routing_reason=choice.reason, handed_off_at=now,
        sla_deadline=deadline, rule_id=choice.rule_id, rule_version=choice.rule_version,
        accept_sla_s=choice.accept_sla.total_seconds(), breaches=breaches)
    event = LeadHandedOff(
        lead_id=lead.lead_id, assignment_id=assignment.id,
        rep=RepRef(id=rep.id, name=rep.name, email=rep.email, team=rep.team) if rep else None,
        routing_rule=choice.rule, routing_reason=choice.reason,
        profile=lead.profile, consent=lead.consent, score=lead.score, grade=lead.grade,
        contributions=lead.contributions, source=lead.source,
        recent_activities=lead.recent_activities, qualified_at=lead.qualified_at,
        handed_off_at=now, sla_deadline=deadline,
        lifecycle_stage=choice.customer.stage if choice.customer else None,
        account=choice.customer.account if choice.customer else None,
    )
    return HandOff(assignment, timers, event)


async def store_handoffs(uow: UnitOfWork, handoffs: Sequence[HandOff],
                         cursors: Mapping[str, RoundRobinCursor],
                         lead_copies: Sequence[Mapping[str, Any]] = ()) -> set[UUID]:
    """Store the hand-offs in one statement: the lead copies, the assignments, their timers, the
    pools' credits and the webhook deliveries of their lead.handed_off events, which then go to
    the outbox. Returns the ids inserted: a lead that already has an open assignment gets none
    (the unique index decides), and then no timer, credit, delivery or event is written: the
    caller decides whether that is an error (routing raises RoutingConflict: all rolls back)."""
    events = [h.event for h in handoffs]
    envelopes = [uow.envelope(event) for event in events]
    inserted = await routing_repository.store_handoffs(
        uow, lead_copies, [h.assignment for h in handoffs],
        [(h.assignment.id, kind.value, due) for h in handoffs for kind, due in h.timers.items()],
        cursors, outbound.messages_of(events, envelopes))
    if len(inserted) == len(handoffs):
        uow.publish_envelopes(envelopes)
    return inserted


async def hand_off(uow: UnitOfWork, lead: LeadQualified, choice: Choice, now: datetime,
                   breaches: int = 0) -> UUID | None:
    """Store one assignment, its SLA timers and cursor, and publish lead.handed_off;
    None when the lead already has an open assignment (the unique index decides)."""
    handoff = handed_off(lead, choice, now, breaches)
    cursors = ({choice.pool: choice.cursor}
               if choice.pool is not None and choice.cursor is not None else {})
    if not await store_handoffs(uow, [handoff], cursors):
        return None
    return handoff.assignment.id
