"""Routing's reference data held in memory: the active rules in order and every rep (team,
weight, capacity, coverage, named accounts, working hours, absence), by team in rotation order.

Routing reads these per lead, so they are loaded once and reloaded only when they change: a
cheap version query (row counts and the transaction ids that last wrote the rows) runs at most
once a second, and the admin routes that change reps or rules call `invalidate_routing()` after
their commit, so this replica sees its own change at once and the others within a second.
What changes with every assignment (a rep's open leads, the round-robin credits) is not held
here: it is read fresh, under the pool's lock, by whoever routes.
"""

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.routing.domain import RepProfile, RoutingRule, WorkingHours
from handoff.rules import repository as rule_repository
from handoff.tables import reps
from leadloop.reference import Reference


@dataclass(frozen=True, slots=True)
class Rep:
    """A rep as routing keeps it: its routing profile (load 0: loads are read fresh) and the
    contact details a hand-off names."""

    profile: RepProfile
    email: str

    @property
    def id(self) -> UUID:
        """The rep's id."""
        return self.profile.id

    @property
    def name(self) -> str:
        """The rep's name."""
        return self.profile.name

    @property
    def team(self) -> str:
        """The rep's team."""
        return self.profile.team

    @property
    def working_hours(self) -> WorkingHours | None:
        """When the rep works (None: always)."""
        return self.profile.working_hours


def working_hours_of(row: Any) -> WorkingHours | None:
    """A rep row's working hours (None: always working)."""
    hours = row.working_hours
    if not hours:
        return None
    return WorkingHours(hours["time_zone"], time.fromisoformat(hours["start"]),
                        time.fromisoformat(hours["end"]), frozenset(hours.get("days", range(5))))


def profile_of(row: Any, open_assignments: int | None = None) -> RepProfile:
    """Routing's view of a rep row (its open lead count from the row unless given)."""
    load = row.open_assignments if open_assignments is None else open_assignments
    return RepProfile(
        id=row.id, name=row.name, team=row.team, weight=row.weight, capacity=row.capacity,
        open_assignments=load, active=row.active,
        territories=frozenset(row.territories), segments=frozenset(row.segments),
        named_accounts=frozenset(row.named_accounts),
        working_hours=working_hours_of(row),
        out_of_office_from=row.out_of_office_from, out_of_office_to=row.out_of_office_to,
        manager_id=row.manager_id)


def rep_of(row: Any) -> Rep:
    """A rep row as routing keeps it."""
    return Rep(profile_of(row, open_assignments=0), row.email)


@dataclass(frozen=True, slots=True)
class RoutingTables:
    """The active rules in routing order and every rep in rotation order (created_at, id)."""

    rules: tuple[RoutingRule, ...] = ()
    reps: tuple[Rep, ...] = ()
    _by_id: Mapping[UUID, Rep] = field(default_factory=dict)
    _teams: Mapping[str, tuple[Rep, ...]] = field(default_factory=dict)
    _owners: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # domain -> positions

    @classmethod
    def of(cls, rules: Sequence[RoutingRule], reps_in_rotation: Sequence[Rep]) -> "RoutingTables":
        """Tables from rules in routing order and reps in rotation order."""
        teams: dict[str, list[Rep]] = {}
        owners: dict[str, list[int]] = {}
        for position, rep in enumerate(reps_in_rotation):
            teams.setdefault(rep.team, []).append(rep)
            if rep.profile.active:
                for domain in rep.profile.named_accounts:
                    owners.setdefault(domain, []).append(position)
        return cls(tuple(rules), tuple(reps_in_rotation),
                   {rep.id: rep for rep in reps_in_rotation},
                   {team: tuple(members) for team, members in teams.items()},
                   {domain: tuple(positions) for domain, positions in owners.items()})

    def rep(self, rep_id: UUID) -> Rep | None:
        """A rep by id."""
        return self._by_id.get(rep_id)

    def team(self, name: str) -> tuple[Rep, ...]:
        """Every rep of the team (inactive ones too), in rotation order."""
        return self._teams.get(name, ())

    def owners_of(self, domains: Iterable[str]) -> list[Rep]:
        """Active reps owning any of these domains, in rotation order."""
        positions = sorted({p for domain in domains for p in self._owners.get(domain, ())})
        return [self.reps[p] for p in positions]


async def _load(conn: AsyncConnection) -> RoutingTables:
    rules = await rule_repository.routing_order(conn)
    rows = await conn.execute(select(reps).order_by(reps.c.created_at, reps.c.id))
    return RoutingTables.of(rules, [rep_of(row) for row in rows])


# Any insert or update gives a row a new xmin, so the sum changes with every edit.
_VERSION = text(
    "SELECT (SELECT count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) FROM reps)"
    " || '/' || (SELECT count(*) || ':' || coalesce(sum(xmin::text::bigint), 0)"
    " FROM routing_rules)")


async def _version(conn: AsyncConnection) -> Hashable:
    version: Hashable = await conn.scalar(_VERSION)
    return version


_references: dict[str, Reference[RoutingTables]] = {}
_generation = 0  # bumped by every invalidation, to catch one that lands during a load


def invalidate_routing() -> None:
    """Reps or rules changed here (after the commit): load them afresh on the next use."""
    global _generation
    _generation += 1
    for reference in _references.values():
        reference.invalidate()


async def routing_tables(conn: AsyncConnection) -> RoutingTables:
    """The current rules and reps of the database `conn` is on (from memory, checked against
    the stored version at most once a second)."""
    key = conn.engine.url.render_as_string(hide_password=True)
    reference = _references.get(key)
    if reference is None:
        reference = _references[key] = Reference(_load, _version)
    while True:
        generation = _generation
        tables = await reference.get(conn)
        if generation == _generation:
            return tables
        # An invalidation came while loading: what was loaded may predate that change.
        reference.invalidate()
