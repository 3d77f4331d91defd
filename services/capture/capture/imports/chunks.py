"""One chunk of an import: rows validated in a thread, then written set-based in one transaction.

New emails (the bulk of a list) take the set-based path: the chunk is COPYed into a temporary
table, then one statement inserts the leads (`INSERT ... SELECT ... ON CONFLICT (email) DO
NOTHING RETURNING`), and their lead.created events are built from what was inserted and go
through the unit of work (sealed under each lead's key, one outbox statement per chunk).
Rows whose email is already known, or appears more than once in the chunk, go
through the in-memory plan (import_domain.plan_batch), which applies the single-submission merge
rules row by row and publishes lead.updated / lead.consent_changed through the unit of work.
Each email's rows take exactly one of the two paths, in row order, so the outcome per row is
what posting the rows one at a time would give.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Integer, bindparam, func, literal_column, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import DBAPIError

from capture.imports.domain import (
    StoredLead,
    UnreadableRow,
    fast_profile,
    plan_batch,
    row_errors,
    row_to_body,
)
from capture.leads import repository
from capture.leads.domain import consent_changes, printable
from capture.leads.keys import publish_sealed
from capture.leads.schemas import LeadIn
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
from leadloop.events.topology import KEY_OWNER
from leadloop.keyring import issue_keys
from leadloop.pii import seal

MAX_STORED_ERRORS = 1000
_RETRIES = 5
_RETRYABLE = ("40P01", "40001")  # deadlock, serialization failure: redo the chunk
_TIME = TypeAdapter(datetime)
_CREATED_TYPE = "leadloop.lead.created.v1"


@dataclass
class PreparedChunk:
    """A chunk's rows after validation, valid rows in row order with their JSON for COPY."""

    row_count: int = 0
    now: datetime = field(default_factory=event_time_now)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    # (normalized email, profile JSON, consent JSON) per valid row.
    records: list[tuple[str, str, str]] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    _leads: dict[int, LeadIn] = field(default_factory=dict)

    def lead(self, index: int) -> LeadIn:
        """A valid row as the model (built on demand for rows the fast path took)."""
        if index not in self._leads:
            self._leads[index] = LeadIn.model_validate(self.bodies[index])
        return self._leads[index]


def prepare_chunk(rows: Iterator[dict[str, str] | UnreadableRow], first_number: int, size: int,
                  mapping: dict[str, str], campaign: str | None) -> PreparedChunk:
    """Read up to `size` rows and validate them exactly as POST /v1/leads does (in a thread)."""
    chunk = PreparedChunk()
    consents: dict[tuple[Any, ...], tuple[Consent, str]] = {}
    for number, row in enumerate(rows, start=first_number):
        chunk.row_count += 1
        if isinstance(row, UnreadableRow):
            chunk.errors.append({"row": number, "field": "row", "reason": printable(row.reason)})
            if chunk.row_count >= size:
                break
            continue
        body = row_to_body(row, mapping, campaign, chunk.now)
        profile = fast_profile(body)
        if profile is None:
            try:
                lead = LeadIn.model_validate(body)
            except ValidationError as exc:
                chunk.errors.extend(row_errors(number, exc))
                if chunk.row_count >= size:
                    break
                continue
            chunk._leads[len(chunk.bodies)] = lead
            profile = lead.model_dump(mode="json", exclude={"consent", "source"})
        given = body.get("consent", {})
        key = tuple(sorted(given.items()))
        if key not in consents:  # a list has a handful of distinct consents
            consent = Consent.model_validate(given)
            consents[key] = (consent, orjson.dumps(consent.model_dump(mode="json")).decode())
        consent, consent_json = consents[key]
        chunk.bodies.append(body)
        chunk.consents.append(consent)
        chunk.records.append((profile["email"], orjson.dumps(profile).decode(), consent_json))
        if chunk.row_count >= size:
            break
    return chunk


async def apply_chunk(runtime: Runtime, import_id: UUID, done_before: int,
                      chunk: PreparedChunk, campaign: str | None) -> None:
    """Write a chunk, its events and the import's progress in one transaction."""
    source = LeadSource(channel="import", campaign=campaign)
    service = runtime.settings.service_name
    for attempt in range(_RETRIES):
        try:
            async with runtime.unit_of_work() as uow:
                counts = await _write_chunk(uow, service, chunk, source)
                if counts is None:
                    continue  # a lead with one of these emails arrived meanwhile: redo
                progressed = await uow.connection.execute(
                    update(imports)
                    .where(imports.c.id == import_id, imports.c.rows_total == done_before)
                    .values(**_progress(chunk, counts)))
                if progressed.rowcount != 1:
                    raise RuntimeError(f"import {import_id} progressed elsewhere")
                await uow.commit()
                return
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _RETRYABLE or attempt == _RETRIES - 1:
                raise
    raise RuntimeError(f"import {import_id}: a chunk lost {_RETRIES} races in a row")


def _progress(chunk: PreparedChunk, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "rows_total": imports.c.rows_total + chunk.row_count,
        "created": imports.c.created + counts["created"],
        "updated": imports.c.updated + counts["updated"],
        "unchanged": imports.c.unchanged + counts["unchanged"],
        "failed": imports.c.failed + (chunk.row_count - len(chunk.records)),
        "errors": func.jsonb_path_query_array(
            imports.c.errors.op("||")(bindparam("new_errors", chunk.errors, type_=JSONB)),
            literal_column(f"'$[0 to {MAX_STORED_ERRORS - 1}]'::jsonpath")),
    }


async def _write_chunk(uow: UnitOfWork, service: str, chunk: PreparedChunk,
                       source: LeadSource) -> dict[str, int] | None:
    seen = Counter(email for email, _, _ in chunk.records)
    once = [i for i, (email, _, _) in enumerate(chunk.records) if seen[email] == 1]
    conflicted = await _insert_new(uow, service, chunk, once, source)
    planned = {i for i, (email, _, _) in enumerate(chunk.records) if seen[email] > 1}
    rest = [chunk.lead(i) for i in sorted(planned | conflicted)]  # row order
    counts = await _write_planned(uow, rest, source, chunk.now)
    if counts is None:
        return None
    counts["created"] += len(once) - len(conflicted)
    return counts


_STAGE = ("CREATE TEMP TABLE import_staging (ord int, email text, profile jsonb, consent jsonb) "
          "ON COMMIT DROP")
# The leads that are new. Their lead.created events are built from the stored rows in Python,
# not in SQL: personal fields must be sealed under each lead's key (leadloop.keyring) on their way
# into the outbox, like every other event's.
_INSERT_NEW = text("""
WITH inserted AS (
    INSERT INTO leads (id, email, profile, consent, source)
    SELECT gen_random_uuid(), s.email, s.profile, s.consent, CAST(:source AS jsonb)
    FROM import_staging s ORDER BY s.email
    ON CONFLICT (email) DO NOTHING
    RETURNING id, email, profile, consent
)
SELECT s.ord, i.id, i.profile, i.consent
FROM import_staging s LEFT JOIN inserted i ON i.email = s.email
""").columns(ord=Integer, id=PG_UUID(as_uuid=True), profile=JSONB, consent=JSONB)


async def _insert_new(uow: UnitOfWork, service: str, chunk: PreparedChunk,
                      indexes: list[int], source: LeadSource) -> set[int]:
    """COPY the chunk's single-occurrence rows and insert those whose email is new; returns
    the rows whose email was already taken."""
    if not indexes:
        return set()
    conn = uow.connection
    await conn.execute(text(_STAGE))
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    await raw.copy_records_to_table(
        "import_staging", columns=["ord", "email", "profile", "consent"],
        records=[(i, *chunk.records[i]) for i in indexes])
    source_json = source.model_dump(mode="json")
    result = await conn.execute(_INSERT_NEW, {"source": orjson.dumps(source_json).decode()})
    now_json = _TIME.dump_python(chunk.now, mode="json")
    rows = result.all()
    keys = await issue_keys(await uow.driver(),
                            [str(r[1]) for r in rows if r[1] is not None], KEY_OWNER)
    conflicted = set()
    for index, lead_id, profile, consent in rows:
        if lead_id is None:
            conflicted.add(index)
            continue
        # The data of lead.created exactly as its model dumps it, from the row just stored,
        # sealed with the key just issued (nothing to look up at commit).
        subject = str(lead_id)
        uow.publish_validated(_CREATED_TYPE, subject, seal({
            "lead_id": subject, "profile": profile, "consent": consent,
            "source": source_json, "form_id": None, "created_at": now_json}, subject,
            keys[subject]))
        if consent.get("email_marketing") or consent.get("sales_contact"):
            _publish_consent_changes(uow, lead_id, None, chunk.consents[index], chunk.now,
                                     keys[subject])
    return conflicted


async def _write_planned(uow: UnitOfWork, valid: list[LeadIn], source: LeadSource,
                         now: datetime) -> dict[str, int] | None:
    """Known emails and repeats: folded in memory by the single-submission rules."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    if not valid:
        return counts
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
            _publish_one_consent_change(uow, effect.lead_id, effect.consent, purpose, granted,
                                        now)
    return counts


def _publish_consent_changes(uow: UnitOfWork, lead_id: UUID, before: Consent | None,
                             after: Consent, now: datetime, key: bytes | None = None) -> None:
    for purpose, granted in consent_changes(before, after):
        _publish_one_consent_change(uow, lead_id, after, purpose, granted, now, key)


def _publish_one_consent_change(uow: UnitOfWork, lead_id: UUID, consent: Consent, purpose: str,
                                granted: bool, now: datetime, key: bytes | None = None) -> None:
    publish_sealed(uow, LeadConsentChanged(
        lead_id=lead_id, purpose=purpose, granted=granted, lawful_basis=consent.lawful_basis,
        text=consent.text, version=consent.version, source=consent.source, changed_at=now),
        key)
