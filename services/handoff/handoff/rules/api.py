"""Routing rule admin routes (scope "admin"): versioned rules, newest version routes."""

import uuid
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, status

from handoff.routing.reference import invalidate_routing
from handoff.rules import repository as rule_repository
from handoff.rules.schemas import RuleIn, RuleList, RuleOut
from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import cursor_query, limit_query

router = APIRouter(prefix="/v1", dependencies=[Depends(require_scope("admin"))])
_NO_RULE = "no routing rule with this id"


def _rule_values(rule: RuleIn) -> dict[str, Any]:
    values = rule.model_dump()
    values["conditions"] = [c.model_dump() for c in rule.conditions]
    return values


@router.post("/routing-rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED,
             tags=["routing rules"])
async def create_rule(rule: RuleIn, uow: UnitOfWork = Depends(unit_of_work)) -> RuleOut:
    """Add a routing rule (version 1). Rules are tried by ascending position."""
    async with uow:
        row = await rule_repository.add_version(uow.connection, uuid.uuid4(), 1,
                                                _rule_values(rule))
        await uow.commit()
    invalidate_routing()
    return RuleOut.model_validate(row)


@router.get("/routing-rules", response_model=RuleList, tags=["routing rules"])
async def list_rules(limit: int = limit_query(), cursor: str | None = cursor_query(),
                     uow: UnitOfWork = Depends(unit_of_work)) -> RuleList:
    """The current version of every rule, in the order routing tries them."""
    async with uow:
        rows = await rule_repository.current_rules(uow.connection, cursor, limit)
    kept, next_cursor = rule_repository.RULE_ORDER.page(rows, limit)
    return RuleList(items=[RuleOut.model_validate(row) for row in kept], next_cursor=next_cursor)


@router.put("/routing-rules/{rule_id}", response_model=RuleOut, tags=["routing rules"],
            responses={404: {"description": _NO_RULE}})
async def replace_rule(rule_id: UUID, rule: RuleIn,
                       uow: UnitOfWork = Depends(unit_of_work)) -> RuleOut:
    """Save a new version of the rule; assignments keep naming the version that routed them."""
    async with uow:
        current = await rule_repository.lock_current(uow.connection, rule_id)
        if current is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_RULE)
        row = await rule_repository.add_version(uow.connection, rule_id, current.version + 1,
                                                _rule_values(rule))
        await uow.commit()
    invalidate_routing()
    return RuleOut.model_validate(row)


@router.delete("/routing-rules/{rule_id}", response_model=RuleOut, tags=["routing rules"],
               responses={404: {"description": _NO_RULE}})
async def deactivate_rule(rule_id: UUID, uow: UnitOfWork = Depends(unit_of_work)) -> RuleOut:
    """Stop using the rule (a new, inactive version; history stays)."""
    async with uow:
        current = await rule_repository.lock_current(uow.connection, rule_id)
        if current is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_RULE)
        values = {k: getattr(current, k) for k in (
            "name", "position", "team", "conditions", "accept_sla_s", "respect_working_hours")}
        row = await rule_repository.add_version(uow.connection, rule_id, current.version + 1,
                                                {**values, "active": False})
        await uow.commit()
    invalidate_routing()
    return RuleOut.model_validate(row)


@router.get("/routing-rules/{rule_id}/versions", response_model=RuleList,
            tags=["routing rules"], responses={404: {"description": _NO_RULE}})
async def rule_versions(rule_id: UUID, limit: int = limit_query(),
                        cursor: str | None = cursor_query(),
                        uow: UnitOfWork = Depends(unit_of_work)) -> RuleList:
    """Every version of a rule, newest first."""
    async with uow:
        if not await rule_repository.has_rule(uow.connection, rule_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_RULE)
        rows = await rule_repository.rule_versions(uow.connection, rule_id, cursor, limit)
    kept, next_cursor = rule_repository.VERSION_ORDER.page(rows, limit)
    return RuleList(items=[RuleOut.model_validate(row) for row in kept], next_cursor=next_cursor)
