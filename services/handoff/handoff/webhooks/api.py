"""Webhook subscriber admin routes (scope "admin"): add, change, rotate secrets, delivery log."""

from datetime import timedelta
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError

from handoff.config import HandoffSettings
from handoff.exceptions import SubscriberNotFound
from handoff.webhooks import repository as webhook_repository
from handoff.webhooks import service as webhook_admin
from handoff.webhooks.schemas import (
    DeliveryList,
    DeliveryOut,
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
_NO_SUBSCRIBER = "no webhook subscriber with this id"




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
    return SubscriberWithSecret(**SubscriberOut.model_validate(row).model_dump(), secret=secret)


@router.get("/webhooks", response_model=SubscriberList, tags=["webhooks"])
async def list_subscribers(limit: int = limit_query(), cursor: str | None = cursor_query(),
                           uow: UnitOfWork = Depends(unit_of_work)) -> SubscriberList:
    """Every subscriber, oldest first."""
    async with uow:
        rows = await webhook_repository.list_subscribers(uow.connection, cursor, limit)
    kept, next_cursor = webhook_repository.SUBSCRIBER_ORDER.page(rows, limit)
    return SubscriberList(items=[SubscriberOut.model_validate(row) for row in kept],
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
    return SubscriberOut.model_validate(row)


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
    return SubscriberWithSecret(**SubscriberOut.model_validate(row).model_dump(), secret=secret)


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
    return DeliveryList(items=[DeliveryOut.of(d) for d in deliveries], next_cursor=next_cursor)
