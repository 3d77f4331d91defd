"""Handoff's admin routes for routing rules and webhook subscribers (scope "admin")."""

import uuid
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError

from handoff.config import HandoffSettings
from handoff.exceptions import SubscriberNotFound
from handoff.routing.reference import invalidate_routing
from handoff.rules import repository as rule_repository
from handoff.rules.schemas import RuleIn, RuleList, RuleOut
from handoff.webhooks import repository as webhook_repository
from handoff.webhooks import service as webhook_admin
from handoff.webhooks.schemas import (
    DeliveryList,
    SubscriberIn,
    SubscriberList,
    SubscriberOut,
    SubscriberPatch,
    SubscriberWithSecret,
)
from leadloop.app import Runtime, get_runtime, settings_of, unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import cursor_query, limit_query
from leadloop.webhooks import TargetRefused, check_target

router = APIRouter(prefix="/v1", dependencies=[Depends(require_scope("admin"))])
_NO_RULE = "no routing rule with this id"
_NO_SUBSCRIBER = "no webhook subscriber with this id"


# --- routing rules -------------------------------------------------------------------------


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
    return RuleOut.of(row)


@router.get("/routing-rules", response_model=RuleList, tags=["routing rules"])
async def list_rules(limit: int = limit_query(), cursor: str | None = cursor_query(),
                     uow: UnitOfWork = Depends(unit_of_work)) -> RuleList:
    """The current version of every rule, in the order routing tries them."""
    async with uow:
        rows = await rule_repository.current_rules(uow.connection, cursor, limit)
    kept, next_cursor = rule_repository.RULE_ORDER.page(rows, limit)
    return RuleList(items=[RuleOut.of(row) for row in kept], next_cursor=next_cursor)


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
    return RuleOut.of(row)


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
    return RuleOut.of(row)


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
    return RuleList(items=[RuleOut.of(row) for row in kept], next_cursor=next_cursor)


# --- webhook subscribers -------------------------------------------------------------------


async def _check_url(url: str, runtime: Runtime) -> None:
    """422 naming `url` when it leads to a loopback, private or link-local address."""
    try:
        await check_target(url, settings_of(runtime, HandoffSettings).webhook_networks)
    except TargetRefused as exc:
        raise RequestValidationError([{"loc": ("body", "url"), "type": "value_error",
                                       "msg": str(exc)}]) from None


@router.post("/webhooks", response_model=SubscriberWithSecret,
             status_code=status.HTTP_201_CREATED, tags=["webhooks"])
async def create_subscriber(subscriber: SubscriberIn,
                            uow: UnitOfWork = Depends(unit_of_work),
                            runtime: Runtime = Depends(get_runtime)) -> SubscriberWithSecret:
    """Add a sales tool's endpoint; the answer holds its signing secret (shown only now)."""
    await _check_url(str(subscriber.url), runtime)
    async with uow:
        row, secret = await webhook_admin.create_subscriber(uow, subscriber)
        await uow.commit()
    return SubscriberWithSecret(**SubscriberOut.of(row).model_dump(), secret=secret)


@router.get("/webhooks", response_model=SubscriberList, tags=["webhooks"])
async def list_subscribers(limit: int = limit_query(), cursor: str | None = cursor_query(),
                           uow: UnitOfWork = Depends(unit_of_work)) -> SubscriberList:
    """Every subscriber, oldest first."""
    async with uow:
        rows = await webhook_repository.list_subscribers(uow.connection, cursor, limit)
    kept, next_cursor = webhook_repository.SUBSCRIBER_ORDER.page(rows, limit)
    return SubscriberList(items=[SubscriberOut.of(row) for row in kept],
                          next_cursor=next_cursor)


@router.patch("/webhooks/{subscriber_id}", response_model=SubscriberOut, tags=["webhooks"],
              responses={404: {"description": _NO_SUBSCRIBER}})
async def update_subscriber(subscriber_id: UUID, patch: SubscriberPatch,
                            uow: UnitOfWork = Depends(unit_of_work),
                            runtime: Runtime = Depends(get_runtime)) -> SubscriberOut:
    """Change a subscriber; `{"enabled": true}` re-enables one disabled after failures."""
    if patch.url is not None:
        await _check_url(str(patch.url), runtime)
    async with uow:
        try:
            row = await webhook_admin.update_subscriber(uow, subscriber_id, patch)
        except SubscriberNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_SUBSCRIBER) from None
        await uow.commit()
    return SubscriberOut.of(row)


@router.post("/webhooks/{subscriber_id}/rotate-secret", response_model=SubscriberWithSecret,
             tags=["webhooks"], responses={404: {"description": _NO_SUBSCRIBER}})
async def rotate_secret(subscriber_id: UUID,
                        uow: UnitOfWork = Depends(unit_of_work),
                        runtime: Runtime = Depends(get_runtime)) -> SubscriberWithSecret:
    """A new secret; the previous one keeps signing alongside it for the overlap period."""
    overlap = settings_of(runtime, HandoffSettings).webhook_secret_overlap_s
    async with uow:
        try:
            row, secret = await webhook_admin.rotate_secret(uow, subscriber_id,
                                                            timedelta(seconds=overlap))
        except SubscriberNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_SUBSCRIBER) from None
        await uow.commit()
    return SubscriberWithSecret(**SubscriberOut.of(row).model_dump(), secret=secret)


@router.get("/webhooks/{subscriber_id}/deliveries", response_model=DeliveryList,
            tags=["webhooks"], responses={404: {"description": _NO_SUBSCRIBER}})
async def delivery_log(subscriber_id: UUID,
                       status_is: Literal["pending", "held", "delivered", "failed"] | None = Query(
                           default=None, alias="status"),
                       limit: int = limit_query(), cursor: str | None = cursor_query(),
                       uow: UnitOfWork = Depends(unit_of_work)) -> DeliveryList:
    """The subscriber's deliveries, newest first, each with every attempt (status code,
    error)."""
    async with uow:
        try:
            deliveries, next_cursor = await webhook_admin.delivery_log(
                uow, subscriber_id, status_is, cursor, limit)
        except SubscriberNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_SUBSCRIBER) from None
    return DeliveryList(items=deliveries, next_cursor=next_cursor)
