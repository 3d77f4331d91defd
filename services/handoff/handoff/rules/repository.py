"""Queries on routing rules (versioned: one current row per rule id)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.routing.domain import Condition, RoutingRule
from handoff.tables import routing_rules
from leadloop.pagination import Keyset

RULE_ORDER = Keyset((routing_rules.c.position, routing_rules.c.created_at, routing_rules.c.id),
                    (int, datetime.fromisoformat, UUID))
"""Rules are listed in the order routing tries them."""

VERSION_ORDER = Keyset((routing_rules.c.version,), (int,), descending=True)
"""A rule's versions are listed newest first."""


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One stored version of a routing rule."""

    id: UUID
    version: int
    name: str
    position: int
    team: str
    conditions: list[dict[str, Any]]
    accept_sla_s: float | None
    respect_working_hours: bool
    active: bool
    current: bool
    created_at: datetime

    def rule(self) -> RoutingRule:
        """The routing policy's view of this version."""
        return RoutingRule(
            id=self.id, version=self.version, name=self.name, team=self.team,
            conditions=[Condition(c["field"], c["op"], c.get("value")) for c in self.conditions],
            accept_sla=timedelta(seconds=self.accept_sla_s) if self.accept_sla_s else None,
            respect_working_hours=self.respect_working_hours)


async def routing_order(conn: AsyncConnection) -> list[RoutingRule]:
    """The current version of every active rule, in the order routing tries them."""
    return [RuleRow(**row._mapping).rule() for row in await conn.execute(
        select(routing_rules)
        .where(routing_rules.c.current, routing_rules.c.active)
        .order_by(routing_rules.c.position, routing_rules.c.created_at, routing_rules.c.id)
    )]


async def current_rules(conn: AsyncConnection, cursor: str | None, limit: int
                        ) -> list[RuleRow]:
    """A page of the current version of every rule (inactive ones too), in routing order
    (limit + 1 rows: RULE_ORDER.page cuts it)."""
    return [RuleRow(**row._mapping) for row in await conn.execute(RULE_ORDER.select(
        select(routing_rules).where(routing_rules.c.current), cursor, limit))]


async def has_rule(conn: AsyncConnection, rule_id: UUID) -> bool:
    """Whether a rule with this id was ever saved."""
    return bool(await conn.scalar(select(
        select(routing_rules.c.id).where(routing_rules.c.id == rule_id).exists())))


async def rule_versions(conn: AsyncConnection, rule_id: UUID, cursor: str | None,
                        limit: int) -> list[RuleRow]:
    """A page of a rule's versions, newest first (limit + 1 rows: VERSION_ORDER.page cuts
    it)."""
    return [RuleRow(**row._mapping) for row in await conn.execute(VERSION_ORDER.select(
        select(routing_rules).where(routing_rules.c.id == rule_id), cursor, limit))]


async def lock_current(conn: AsyncConnection, rule_id: UUID) -> RuleRow | None:
    """The rule's current version, row-locked (so two edits make two versions in turn)."""
    row = (await conn.execute(
        select(routing_rules).where(routing_rules.c.id == rule_id, routing_rules.c.current)
        .with_for_update()
    )).one_or_none()
    return None if row is None else RuleRow(**row._mapping)


async def add_version(conn: AsyncConnection, rule_id: UUID, version: int,
                      values: dict[str, Any]) -> RuleRow:
    """Store a new version of the rule and make it the current one."""
    await conn.execute(
        update(routing_rules).where(routing_rules.c.id == rule_id, routing_rules.c.current)
        .values(current=False)
    )
    return RuleRow(**(await conn.execute(
        routing_rules.insert().values(id=rule_id, version=version, current=True,
                                      created_at=func.now(), **values)
        .returning(*routing_rules.c)
    )).one()._mapping)
