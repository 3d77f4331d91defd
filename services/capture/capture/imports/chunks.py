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
from sqlalchemy.exc import DBAPIError

from capture.imports import repository
from capture.imports.domain import (
    StoredLead,
    UnreadableRow,
    fast_profile,
    plan_batch,
    row_errors,
    row_to_body,
)
from capture.leads import repository as leads_repository
from capture.leads.domain import consent_changes, printable
from capture.leads.keys import publish_sealed
from capture.leads.repository import NewLead
from capture.leads.validation import LeadIn
from leadloop.app import Runtime
from leadloop.db import UnitOfWork
from leadloop.events.models import (
    Consent,
    LeadConsentChanged,
    LeadCreated,
    LeadSource,
    LeadUpdated,
    event_time_now,
)
from leadloop.events.topology import KEY_OWNER
from leadloop.keyring import issue_keys
from leadloop.pii import seal

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
                if not await repository.record_progress(
                        uow.connection, import_id, done_before, chunk.row_count, counts,
                        chunk.row_count - len(chunk.records), chunk.errors):
                    raise RuntimeError(f"import {import_id} progressed elsewhere")
                await uow.commit()
                return
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _RETRYABLE or attempt == _RETRIES - 1:
                raise
    raise RuntimeError(f"import {import_id}: a chunk lost {_RETRIES} races in a row")


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


async def _insert_new(uow: UnitOfWork, service: str, chunk: PreparedChunk,
                      indexes: list[int], source: LeadSource) -> set[int]:
    """COPY the chunk's single-occurrence rows and insert those whose email is new; returns
    the rows whose email was already taken."""
    if not indexes:
        return set()
    source_json = source.model_dump(mode="json")
    rows = await repository.insert_staged_leads(
        uow.connection, [(i, *chunk.records[i]) for i in indexes],
        orjson.dumps(source_json).decode())
    now_json = _TIME.dump_python(chunk.now, mode="json")
    keys = await issue_keys(await uow.driver(),
                            [str(r.lead_id) for r in rows if r.lead_id is not None], KEY_OWNER)
    conflicted = set()
    for index, lead_id, profile, consent in ((r.index, r.lead_id, r.profile, r.consent)
                                             for r in rows):
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
    db = await uow.driver()
    emails = sorted({lead.email for lead in valid})
    rows = await leads_repository.lock_leads_by_email(db, emails)
    merged = {row.email: row.merged_into for row in rows if row.merged_into is not None}
    if merged:  # a merged duplicate's email resolves to its survivor, as in single posts
        survivors = await leads_repository.lock_leads_by_id(db, sorted(set(merged.values())))
        email_of = {row.id: row.email for row in survivors}
        valid = [lead.model_copy(update={"email": email_of[merged[lead.email]]})
                 if lead.email in merged else lead for lead in valid]
        rows = [row for row in rows if row.merged_into is None] + [
            row for row in survivors if row.email not in {r.email for r in rows}]
    existing = {row.email: StoredLead(row.id, row.profile, row.consent) for row in rows}
    plan = plan_batch(existing, valid)
    inserted = await leads_repository.insert_new_leads(db, [
        NewLead(s.id, email, s.profile, s.consent, source) for email, s in plan.inserts.items()])
    if len(inserted) != len(plan.inserts):
        return None
    await leads_repository.update_leads(db, list(plan.updates.values()), now)
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
