"""Bulk import: a CSV streamed to disk, then applied in batches in the background."""

import asyncio
import csv
import logging
import tempfile
from collections.abc import Iterator
from typing import IO, Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import bindparam, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert

from capture import repository
from capture.import_domain import StoredLead, plan_batch, row_errors, row_to_lead
from capture.schemas import LeadIn
from capture.tables import imports
from leadloop.app import Runtime
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    Consent,
    LeadConsentChanged,
    LeadCreated,
    LeadProfile,
    LeadSource,
    LeadUpdated,
    event_time_now,
)

log = logging.getLogger(__name__)
BATCH_ROWS = 2000
MAX_STORED_ERRORS = 1000
_running: set["asyncio.Task[None]"] = set()


def csv_rows(file: IO[bytes]) -> Iterator[dict[str, str]]:
    """The CSV's rows as dicts keyed by header (UTF-8, with or without a byte order mark)."""
    file.seek(0)
    text = (line.decode("utf-8-sig", errors="replace") for line in file)
    yield from csv.DictReader(text)


async def create_import(uow: UnitOfWork, import_id: UUID) -> None:
    """Record a new import as running."""
    await uow.connection.execute(insert(imports).values(id=import_id, status="running"))


async def get_import(uow: UnitOfWork, import_id: UUID) -> Any | None:
    """An import's progress row, or None."""
    return (await uow.connection.execute(
        select(imports).where(imports.c.id == import_id))).one_or_none()


def start_import(runtime: Runtime, import_id: UUID, file: "tempfile.SpooledTemporaryFile[bytes]",
                 mapping: dict[str, str], campaign: str | None) -> None:
    """Run an import in the background; the task is kept until it ends."""
    task = asyncio.create_task(run_import(runtime, import_id, file, mapping, campaign))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def run_import(runtime: Runtime, import_id: UUID,
                     file: "tempfile.SpooledTemporaryFile[bytes]", mapping: dict[str, str],
                     campaign: str | None) -> None:
    """Apply every row, a batch per transaction, recording progress and per-row errors."""
    status = "completed"
    try:
        with file:
            batch: list[tuple[int, dict[str, str]]] = []
            for number, row in enumerate(csv_rows(file), start=2):  # row 1 is the header
                batch.append((number, row))
                if len(batch) >= BATCH_ROWS:
                    await apply_batch(runtime, import_id, batch, mapping, campaign)
                    batch = []
            if batch:
                await apply_batch(runtime, import_id, batch, mapping, campaign)
    except Exception:
        log.exception("import %s failed", import_id)
        status = "failed"
    async with runtime.unit_of_work() as uow:
        await uow.connection.execute(update(imports).where(imports.c.id == import_id)
                                     .values(status=status, finished_at=func.now()))
        await uow.commit()


async def apply_batch(runtime: Runtime, import_id: UUID,
                      batch: list[tuple[int, dict[str, str]]], mapping: dict[str, str],
                      campaign: str | None) -> None:
    """Validate a batch's rows and apply them in one transaction (retried if a race loses)."""
    now = event_time_now()
    valid: list[LeadIn] = []
    errors: list[dict[str, Any]] = []
    for number, row in batch:
        try:
            valid.append(row_to_lead(row, mapping, campaign, now))
        except ValidationError as exc:
            errors.extend(row_errors(number, exc))
    failed_rows = len(batch) - len(valid)
    source = LeadSource(channel="import", campaign=campaign)
    while True:
        async with runtime.unit_of_work() as uow:
            counts = await _write(uow, valid, source, now)
            if counts is None:
                continue  # a new lead with one of these emails arrived meanwhile: redo
            await uow.connection.execute(update(imports).where(imports.c.id == import_id).values(
                rows_total=imports.c.rows_total + len(batch),
                created=imports.c.created + counts["created"],
                updated=imports.c.updated + counts["updated"],
                unchanged=imports.c.unchanged + counts["unchanged"],
                failed=imports.c.failed + failed_rows,
                errors=func.jsonb_path_query_array(
                    imports.c.errors.op("||")(bindparam("new_errors", errors, type_=JSONB)),
                    literal_column(f"'$[0 to {MAX_STORED_ERRORS - 1}]'::jsonpath"))))
            await uow.commit()
            return


async def _write(uow: UnitOfWork, valid: list[LeadIn], source: LeadSource, now: Any
                 ) -> dict[str, int] | None:
    conn = uow.connection
    emails = sorted({lead.email for lead in valid})
    rows = await repository.lock_leads_by_email(conn, emails)
    merged = {row.email: row.merged_into for row in rows if row.merged_into is not None}
    if merged:  # a merged duplicate's email resolves to its survivor, as in single posts
        survivors = await repository.lock_leads_by_id(conn, sorted(set(merged.values())))
        email_of = {row.id: row.email for row in survivors}
        valid = [lead.model_copy(update={"email": email_of[merged[lead.email]]})
                 if lead.email in merged else lead for lead in valid]
        rows = [row for row in rows if row.merged_into is None] + [
            row for row in survivors if row.email not in {r.email for r in rows}]
    existing = {row.email: StoredLead(row.id, LeadProfile.model_validate(row.profile),
                                      Consent.model_validate(row.consent)) for row in rows}
    plan = plan_batch(existing, valid)
    source_json = source.model_dump(mode="json")
    inserted = await repository.insert_leads(conn, [
        {"id": s.id, "email": email, "profile": s.profile.model_dump(mode="json"),
         "consent": s.consent.model_dump(mode="json"), "source": source_json}
        for email, s in plan.inserts.items()])
    if inserted != len(plan.inserts):
        return None
    await repository.update_leads(conn, [
        {"b_id": s.id, "b_profile": s.profile.model_dump(mode="json"),
         "b_consent": s.consent.model_dump(mode="json"), "b_updated_at": now}
        for s in plan.updates.values()])
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for effect in plan.effects:
        counts[effect.status] += 1
        if effect.status == "created":
            uow.publish(LeadCreated(lead_id=effect.lead_id, profile=effect.profile,
                                    consent=effect.consent, source=source, created_at=now))
        elif effect.status == "updated":
            uow.publish(LeadUpdated(lead_id=effect.lead_id, profile=effect.profile,
                                    consent=effect.consent, changed_fields=effect.changed,
                                    updated_at=now))
        for purpose, granted in effect.consent_changes:
            c = effect.consent
            uow.publish(LeadConsentChanged(
                lead_id=effect.lead_id, purpose=purpose, granted=granted,
                lawful_basis=c.lawful_basis, text=c.text, version=c.version, source=c.source,
                changed_at=now))
    return counts
