"""A service's part of a GDPR access request (art. 15): every row it holds about one lead.

Each service that keeps data about people mounts `export_router` with its own sections (a
query per table, rows about one lead); capture's `GET /v1/leads/{id}/export` gathers these
parts over HTTP with the caller's admin key (capture.export). Each service answers only for
its own database: no service reads another's tables, and a service that adds a table about
people adds a section here, next to its other code.
"""

import base64
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field
from sqlalchemy import Select, Table, select

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.events.models import event_time_now

Section = Callable[[UUID], Select[Any]]
"""The rows of one table (or join) about a lead."""


def rows_about(table: Table, order_by: str | None = None, lead_column: str = "lead_id"
               ) -> Section:
    """The section most tables need: their rows whose `lead_column` is the lead, oldest first
    by `order_by` when given."""
    def query(lead_id: UUID) -> Select[Any]:
        selected = select(table).where(table.c[lead_column] == lead_id)
        return selected.order_by(table.c[order_by]) if order_by else selected
    return query


class ServiceExport(BaseModel):
    """Everything one service holds about a lead; empty sections when it holds nothing."""

    service: str
    lead_id: UUID
    exported_at: datetime
    sections: dict[str, list[dict[str, Any]]] = Field(
        description="table (or kind of record) -> its rows about the lead")


def _rows(result: Any) -> list[dict[str, Any]]:
    return jsonable_encoder([dict(r._mapping) for r in result], custom_encoder={
        bytes: lambda b: base64.b64encode(b).decode()})


def export_router(sections: Mapping[str, Section]) -> APIRouter:
    """`GET /v1/leads/{lead_id}/export` (admin) answering this service's `sections`."""
    router = APIRouter(prefix="/v1", tags=["privacy"],
                       dependencies=[Depends(require_scope("admin"))])

    @router.get("/leads/{lead_id}/export", response_model=ServiceExport)
    async def export_lead(lead_id: UUID, request: Request,
                          uow: UnitOfWork = Depends(unit_of_work)) -> ServiceExport:
        """Everything this service holds about the lead (GDPR art. 15); capture's export of
        the same path gathers every service's."""
        async with uow:
            found = {name: _rows(await uow.connection.execute(query(lead_id)))
                     for name, query in sections.items()}
        return ServiceExport(service=request.app.state.settings.service_name, lead_id=lead_id,
                             exported_at=event_time_now(), sections=found)

    return router
