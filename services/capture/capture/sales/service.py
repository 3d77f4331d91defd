"""Keeping each lead's owner and qualification state from scoring's and handoff's events."""

from collections.abc import Iterable

from capture.sales import repository
from capture.sales.domain import SalesEvent, fold
from leadloop.db import UnitOfWork


async def record_sales_progress(uow: UnitOfWork, events: Iterable[SalesEvent]) -> None:
    """What these events say of each lead's owner and qualification, stored (one upsert)."""
    await repository.save(uow, fold(events))
