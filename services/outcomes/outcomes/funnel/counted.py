"""What the reports count: the read model with every merged duplicate folded into its survivor.

Each funnel row keeps one lead's own facts; a merged duplicate's row only says which lead it was
merged into (outcomes.funnel.merges). Reports read these selectables instead of the tables, so a
merged duplicate counts once, as part of its survivor, with the union of both histories, and an
undone merge counts both again; nothing about a merge is ever written into another lead's row.

- `counted_leads`: funnel_leads' columns, one row per lead that counts: leads in no merge as
  they are, and one row per survivor folded from its group by the rules of
  `merges.fold_group` (the same rules, in SQL);
- `counted_touches`, `counted_closed_deals`, `counted_deals`: those tables with `lead_id` being
  the survivor's for a merged duplicate's rows.

Merges are rare: the merged rows are found through a partial index, and the rows in no merge
are read as before (filters on them reach the table's indexes).
"""

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Subquery,
    Table,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, array_agg, distinct_on

from outcomes.funnel.facts import (
    CLOCK_COLUMNS,
    FIRST_TIME_COLUMNS,
    LATEST_COLUMNS,
    REASON_COLUMNS,
    SOURCE_COLUMNS,
)
from outcomes.funnel.merges import MAX_CHAIN
from outcomes.tables import closed_deals, deals, funnel_leads, touches

_leads = funnel_leads.c

# Every merged lead with each lead up its chain, and how far up; the farthest is its survivor.
_chain_start = select(_leads.lead_id, _leads.merged_into.label("survivor"),
                      literal(1).label("depth")).where(_leads.merged_into.is_not(None))
_chain = _chain_start.cte("merge_chain", recursive=True)
_up = funnel_leads.alias("merged_on")
_chain = _chain.union_all(
    select(_chain.c.lead_id, _up.c.merged_into, _chain.c.depth + 1)
    .join_from(_chain, _up, _up.c.lead_id == _chain.c.survivor)
    .where(_up.c.merged_into.is_not(None), _chain.c.depth < MAX_CHAIN))

survivors: Subquery = (
    select(_chain.c.lead_id, _chain.c.survivor).ext(distinct_on(_chain.c.lead_id))
    .order_by(_chain.c.lead_id, _chain.c.depth.desc()).subquery("merge_survivors"))
"""(lead_id, survivor) of every merged duplicate."""

# Each group of merged leads: its duplicates and the survivor itself, by the survivor's id.
_groups = union(select(survivors.c.lead_id, survivors.c.survivor),
                select(survivors.c.survivor, survivors.c.survivor)).subquery("merge_groups")
_member = funnel_leads.alias("member")
_is_survivor = _member.c.lead_id == _groups.c.survivor
_has_source = or_(*(_member.c[name].is_not(None) for name in SOURCE_COLUMNS))


def _pick(name: str, *order: Any) -> ColumnElement[Any]:
    """The group's value of column `name` from the member that comes first in `order`."""
    picked: ColumnElement[Any] = array_agg(aggregate_order_by(_member.c[name], *order))[1]
    return picked


def _folded(name: str) -> ColumnElement[Any]:
    """How a group's rows fold into column `name` (the rules of merges.fold_group)."""
    column = _member.c[name]
    by_survivor_then_id = (_is_survivor.desc(), _member.c.lead_id)
    if name == "lead_id":
        return _groups.c.survivor
    if name == "erased":  # an erased survivor's group counts in the anonymous row only
        return func.coalesce(func.bool_or(column).filter(_is_survivor), false())
    if name == "anonymous":
        return false()
    if name in ("merged_into", "merge_state_at"):
        return cast(null(), column.type)
    if name in FIRST_TIME_COLUMNS or name == "updated_at":
        return func.min(column) if name in FIRST_TIME_COLUMNS else func.max(column)
    if name in CLOCK_COLUMNS:
        return func.max(column)
    if name in LATEST_COLUMNS:
        clock = _member.c[LATEST_COLUMNS[name]]
        return _pick(name, clock.desc().nulls_last(), *by_survivor_then_id)
    if name in REASON_COLUMNS:
        clock = _member.c[REASON_COLUMNS[name]]
        return _pick(name, clock.asc().nulls_last(), *by_survivor_then_id)
    if name in SOURCE_COLUMNS:
        return _pick(name, _has_source.desc(), _is_survivor.desc(),
                     _member.c.lead_at.asc().nulls_last(), _member.c.lead_id)
    raise AssertionError(f"funnel_leads.{name} has no rule for merged leads")


_alone = select(*_leads).where(
    _leads.merged_into.is_(None), _leads.lead_id.not_in(select(survivors.c.survivor)))
_folded_groups = (
    select(*(_folded(c.name).label(c.name) for c in funnel_leads.c))
    .select_from(_groups.join(_member, _member.c.lead_id == _groups.c.lead_id))
    .group_by(_groups.c.survivor))

counted_leads: Subquery = union_all(_alone, _folded_groups).subquery("counted_leads")
"""funnel_leads as the reports count it: one row per lead, merged duplicates in their survivor."""


def _as_survivors(table: Table) -> Subquery:
    """`table` with a merged duplicate's rows under its survivor's lead id."""
    columns = [c for c in table.c if c.name != "lead_id"]
    lead_id = func.coalesce(survivors.c.survivor, table.c.lead_id).label("lead_id")
    return (select(*columns, lead_id)
            .select_from(table.outerjoin(survivors, survivors.c.lead_id == table.c.lead_id))
            .subquery(f"counted_{table.name}"))


counted_touches = _as_survivors(touches)
counted_closed_deals = _as_survivors(closed_deals)
counted_deals = _as_survivors(deals)

__all__ = ["counted_closed_deals", "counted_deals", "counted_leads", "counted_touches",
           "survivors"]
