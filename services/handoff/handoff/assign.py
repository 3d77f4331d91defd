"""Choosing who gets a lead and handing it off: named accounts, rules, round-robin, timers."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncConnection

from handoff import outbound, repository, rule_repository
from handoff.config import HandoffSettings
from handoff.domain import (
    FALLBACK_QUEUE_RULE,
    ROUND_ROBIN_RULE,
    AssignmentStatus,
    RoundRobinCursor,
    route_round_robin,
)
from handoff.routing import (
    NAMED_ACCOUNT_RULE,
    LeadFacts,
    RepProfile,
    WorkingHours,
    describe_match,
    plan_route,
    team_pool,
)
from handoff.rule_schemas import rule_of
from handoff.sla import TimerKind, timers_for
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadHandedOff, LeadQualified, RepRef


@dataclass(frozen=True, slots=True)
class Choice:
    """Who gets the lead (None: the fallback queue), by which rule, why, and its accept SLA."""

    rep: Any | None
    team: str
    rule: str
    reason: str
    accept_sla: timedelta
    rule_id: UUID | None = None
    rule_version: int | None = None
    pool: str | None = None
    cursor: RoundRobinCursor | None = None


def working_hours_of(row: Any) -> WorkingHours | None:
    """A rep row's working hours (None: always working)."""
    hours = row.working_hours
    if not hours:
        return None
    return WorkingHours(hours["time_zone"], time.fromisoformat(hours["start"]),
                        time.fromisoformat(hours["end"]), frozenset(hours.get("days", range(5))))


def profile_of(row: Any) -> RepProfile:
    """Routing's view of a rep row (with its open lead count)."""
    return RepProfile(
        id=row.id, name=row.name, team=row.team, weight=row.weight, capacity=row.capacity,
        open_assignments=row.open_assignments, active=row.active,
        territories=frozenset(row.territories), segments=frozenset(row.segments),
        named_accounts=frozenset(row.named_accounts),
        working_hours=working_hours_of(row),
        out_of_office_from=row.out_of_office_from, out_of_office_to=row.out_of_office_to,
        manager_id=row.manager_id)


def facts_of(lead: LeadQualified) -> LeadFacts:
    """What routing looks at in a qualified lead."""
    return LeadFacts.of(profile=lead.profile.model_dump(mode="json"), score=lead.score,
                        grade=lead.grade, source=lead.source.model_dump(mode="json"))


async def choose(conn: AsyncConnection, facts: LeadFacts, now: datetime,
                 settings: HandoffSettings, exclude: frozenset[UUID] = frozenset()) -> Choice:
    """Decide who gets the lead; the chosen team's round-robin cursor stays locked."""
    rules = [rule_of(row) for row in await rule_repository.routing_order(conn)]
    owner_rows = await repository.named_account_owners(conn, sorted(facts.domains))
    owners = [profile_of(row) for row in owner_rows if row.id not in exclude]
    plan = plan_route(rules, facts, owners, now, settings.default_team)
    rule, team = plan.rule, plan.team
    sla = rule.accept_sla if rule and rule.accept_sla else settings.accept_sla
    rule_ids = {"rule_id": rule.id, "rule_version": rule.version} if rule else {}
    why_rule = describe_match(rule) if rule else "no routing rule matched: default team"

    if plan.owner is not None:
        match = plan.owner
        row = next(r for r in owner_rows if r.id == match.owner.id)
        return Choice(row, row.team, NAMED_ACCOUNT_RULE,
                      f"named account: {match.domain} is owned by {row.name}", sla, **rule_ids)

    pool_name = f"team:{team}"
    cursor = RoundRobinCursor.from_json(await repository.lock_cursor(conn, pool_name))
    rows = await repository.team_reps(conn, team)
    respect = rule.respect_working_hours if rule else True
    pool = team_pool([profile_of(row) for row in rows], facts, now, respect, exclude)
    decision = route_round_robin(team, pool.candidates, cursor)
    reasons = [why_rule]
    if plan.owner_unavailable is not None:
        passed = plan.owner_unavailable
        reasons.append(f"named-account owner {passed.owner.name} ({passed.domain}) is unavailable")
    if pool.not_covering:
        reasons.append(f"{pool.not_covering} rep(s) do not cover the lead's territory/segment")
    if exclude:
        reasons.append(f"{len(exclude)} rep(s) already let it lapse")
    reasons.append(decision.reason)
    chosen = next((row for row in rows if row.id == decision.rep_id), None)
    label = FALLBACK_QUEUE_RULE if chosen is None else (rule.label if rule else ROUND_ROBIN_RULE)
    return Choice(chosen, team, label, "; ".join(reasons), sla, pool=pool_name,
                  cursor=decision.cursor, **rule_ids)


async def hand_off(uow: UnitOfWork, lead: LeadQualified, choice: Choice, now: datetime,
                   breaches: int = 0) -> UUID | None:
    """Store the assignment, its SLA timers and cursor, and publish lead.handed_off;
    None when the lead already has an open assignment (the unique index decides)."""
    conn = uow.connection
    rep = choice.rep
    # The SLA is counted in the rep's working time (clock time for a rep without hours).
    timers = (timers_for(now, choice.accept_sla, working_hours_of(rep))
              if rep is not None else {})
    deadline = timers.get(TimerKind.deadline)
    assignment_id = uuid4()
    inserted = await repository.insert_assignment(conn, {
        "id": assignment_id, "lead_id": lead.lead_id, "rep_id": rep.id if rep else None,
        "team": choice.team,
        "status": (AssignmentStatus.assigned if rep else AssignmentStatus.queued).value,
        "routing_rule": choice.rule, "routing_reason": choice.reason, "handed_off_at": now,
        "sla_deadline": deadline, "rule_id": choice.rule_id, "rule_version": choice.rule_version,
        "accept_sla_s": choice.accept_sla.total_seconds(), "breaches": breaches,
    })
    if not inserted:
        return None
    if choice.pool is not None and choice.cursor is not None:
        await repository.save_cursor(conn, choice.pool, choice.cursor.to_json())
    if rep is not None:
        await repository.insert_timers(conn, [
            {"assignment_id": assignment_id, "kind": kind.value, "due_at": due}
            for kind, due in timers.items()])
    await outbound.publish(uow, LeadHandedOff(
        lead_id=lead.lead_id, assignment_id=assignment_id,
        rep=RepRef(id=rep.id, name=rep.name, email=rep.email, team=rep.team) if rep else None,
        routing_rule=choice.rule, routing_reason=choice.reason,
        profile=lead.profile, consent=lead.consent, score=lead.score, grade=lead.grade,
        contributions=lead.contributions, source=lead.source,
        recent_activities=lead.recent_activities, qualified_at=lead.qualified_at,
        handed_off_at=now, sla_deadline=deadline,
    ))
    return assignment_id
