"""Capture's write requests as group commits: leads, form submissions and activities.

A route validates without the database and submits a prepared request here; the requests
waiting at that moment are written together (see `capture.writes.group_commit`), each still getting
its own answer, its own Idempotency-Key handling and its own 4xx.
"""

import functools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from fastapi import HTTPException, status
from fastapi.responses import JSONResponse, Response

from capture.activities.schemas import ActivityAccepted, ActivityIn, activity_properties
from capture.config import CaptureSettings
from capture.consent.confirmations import ConfirmationRequest, request_confirmations
from capture.forms.definition import FormConfigIn
from capture.idempotency import service as idempotency
from capture.leads import service
from capture.leads.keys import publish_sealed
from capture.leads.plan import LeadWrite
from capture.submissions.domain import answer_for
from capture.writes import repository as batch_repository
from capture.writes.group_commit import GroupCommit
from capture.writes.repository import from_jsonb
from leadloop.app import Runtime, settings_of
from leadloop.db import UnitOfWork
from leadloop.events.models import EventData, LeadActivity, LeadSource


@dataclass(frozen=True)
class Claim:
    """A request's Idempotency-Key: where it applies, the key, and what the request was."""

    scope: str
    key: str
    fingerprint: str


@dataclass
class LeadRequest:
    """POST /v1/leads, validated."""

    write: LeadWrite
    claim: Claim | None = None
    traceparent: str | None = None


@dataclass
class SubmissionRequest:
    """A form submission, validated and checked for spam; `write` is None for spam."""

    form_id: str
    form: FormConfigIn
    browser: bool
    payload: dict[str, Any]
    now: datetime
    write: LeadWrite | None = None
    spam_reason: str | None = None
    unverified_reason: str | None = None
    visitor_id: str | None = None
    claim: Claim | None = None
    traceparent: str | None = None
    submission_id: UUID = field(default_factory=uuid.uuid4)
    # Sent with the form's public key: its answer says nothing about the lead (see
    # `public_answer`).
    public: bool = False


@dataclass(frozen=True)
class Answered:
    """A submission's answer, and what became of it (None for a replayed answer)."""

    response: Response
    outcome: str | None


@dataclass
class ActivityRequest:
    """An activity, validated; `email` normalized. A client-given id makes it idempotent."""

    activity: ActivityIn
    occurred_at: datetime
    email: str | None = None
    traceparent: str | None = None
    activity_id: UUID = field(default_factory=uuid.uuid4)


class NotFound(HTTPException):
    """An activity about a lead capture does not know."""

    def __init__(self, detail: str) -> None:
        super().__init__(status.HTTP_404_NOT_FOUND, detail)


# --- leads ---------------------------------------------------------------------------------


async def apply_leads(uow: UnitOfWork, items: list[LeadRequest]) -> list[Response | Exception]:
    """Write a batch of POST /v1/leads: one claim of keys, the leads, one store of answers."""
    db = await uow.driver()
    results = await _replays(db, [i.claim for i in items])
    todo = [n for n, r in enumerate(results) if r is None]
    captured = await service.capture_leads(uow, [items[n].write for n in todo])
    answers: list[tuple[str, str, int, str]] = []
    for n, done in zip(todo, captured, strict=True):
        _publish(uow, done.events, items[n].traceparent, done.key)
        body = {"lead_id": str(done.lead_id), "status": done.status}
        code = status.HTTP_201_CREATED if done.status == "created" else status.HTTP_200_OK
        results[n] = JSONResponse(body, status_code=code)
        _remember(answers, items[n].claim, code, {"kind": "json", "body": body})
    await batch_repository.store_responses(db, answers)
    return [r for r in results if r is not None]


# --- form submissions --------------------------------------------------------------------------


async def apply_submissions(uow: UnitOfWork, items: list[SubmissionRequest],
                            settings: CaptureSettings) -> list[Answered | Exception]:
    """Write a batch of form submissions: leads, their form_submitted activities, visitors
    identified, submissions, consent confirmations to mail; each request's events in its own
    order."""
    db = await uow.driver()
    replays = await _replays(db, [i.claim for i in items])
    results: list[Answered | Exception | None] = [
        r if r is None or isinstance(r, Exception) else Answered(r, None) for r in replays]
    todo = [n for n, r in enumerate(results) if r is None]
    leads = [n for n in todo if items[n].write is not None]
    captured = dict(zip(leads, await service.capture_leads(
        uow, [items[n].write for n in leads if items[n].write is not None]), strict=True))
    activities: dict[int, tuple[Any, ...]] = {}
    links: dict[str, UUID] = {}  # visitor -> lead: the last submission wins
    attach: dict[str, UUID] = {}  # visitor -> lead its anonymous activities go to: the first
    owner: dict[str, int] = {}
    for n in leads:
        item, lead_id = items[n], captured[n].lead_id
        assert item.write is not None
        source = item.write.lead.source
        properties = {"form_id": item.form_id, "submission_id": str(item.submission_id)}
        if item.unverified_reason:
            properties["unverified"] = item.unverified_reason
        activities[n] = (uuid.uuid4(), lead_id, item.visitor_id, "form_submitted", item.now,
                         source.landing_page, source, properties)
        if item.visitor_id:
            links[item.visitor_id] = lead_id
            attach.setdefault(item.visitor_id, lead_id)
            owner.setdefault(item.visitor_id, n)
    await batch_repository.insert_activities(db, [
        (*row[:6], _json(row[6].model_dump(mode="json")), _json(row[7]))
        for row in activities.values()])
    now = max((items[n].now for n in leads), default=None)
    attached = await batch_repository.identify_visitors(
        db, list(links.items()), list(attach.items()), now) if now is not None else []
    await batch_repository.insert_submissions(db, [
        (items[n].submission_id, items[n].form_id,
         captured[n].lead_id if n in captured else None, _status(items[n]),
         items[n].spam_reason or items[n].unverified_reason, _json(items[n].payload))
        for n in todo])
    await request_confirmations(db, [
        ConfirmationRequest(done.lead_id, done.to_confirm, items[n].form_id,
                            items[n].submission_id)
        for n, done in captured.items() if done.to_confirm is not None], settings)
    answers: list[tuple[str, str, int, str]] = []
    for n in todo:
        item = items[n]
        if n not in captured:
            spam: dict[str, Any] = {"submission_id": str(item.submission_id), "status": "spam"}
            if not item.public:
                spam["lead_id"] = None
            code, stored = answer_for(item.form, item.browser, 200, spam)
            outcome = "spam"
        else:
            done = captured[n]
            activity_id, lead_id, _, kind, occurred_at, url, source, properties = activities[n]
            events: list[EventData] = [*done.events, LeadActivity(
                lead_id=lead_id, activity_id=activity_id, kind=kind, occurred_at=occurred_at,
                url=url, source=source, properties=properties)]
            if item.visitor_id and owner[item.visitor_id] == n:
                events += [_activity_event(row) for row in attached
                           if row["visitor_id"] == item.visitor_id]
            _publish(uow, events, item.traceparent, done.key)
            answer: dict[str, Any] = {"submission_id": str(item.submission_id),
                                      "lead_id": str(lead_id), "status": done.status}
            code = 201 if done.status == "created" else 200
            if item.public:
                code, answer = public_answer(item)
            elif item.unverified_reason:
                answer["unverified"] = item.unverified_reason
            code, stored = answer_for(item.form, item.browser, code, answer)
            outcome = _status(item)
        results[n] = Answered(idempotency.to_response(code, stored), outcome)
        _remember(answers, item.claim, code, stored)
    await batch_repository.store_responses(db, answers)
    return [r for r in results if r is not None]


def public_answer(item: SubmissionRequest) -> tuple[int, dict[str, Any]]:
    """What a public caller learns: that the submission was received, whether the address was
    new or known (no lead id, no created/updated): the same status, body and headers either
    way, so a form cannot be used to find out who is a lead. Only what the caller sent itself
    shapes it (its unverified fill-time token)."""
    answer: dict[str, Any] = {"submission_id": str(item.submission_id), "status": "received"}
    if item.unverified_reason:
        answer["unverified"] = item.unverified_reason
    return 201, answer


def _status(item: SubmissionRequest) -> str:
    """How a submission is recorded: spam (no lead), unverified (a lead, flagged) or accepted."""
    if item.write is None:
        return "spam"
    return "unverified" if item.unverified_reason else "accepted"


def _activity_event(row: Any) -> LeadActivity:
    return LeadActivity(lead_id=row["lead_id"], activity_id=row["id"], kind=row["kind"],
                        occurred_at=row["occurred_at"], url=row["url"],
                        source=LeadSource.model_validate(from_jsonb(row["source"])),
                        properties=from_jsonb(row["properties"]))


# --- activities ----------------------------------------------------------------------------


async def apply_activities(uow: UnitOfWork, items: list[ActivityRequest]
                           ) -> list[ActivityAccepted | Exception]:
    """Write a batch of activities: who each is about (by lead id, email or visitor, one
    query each), one insert, and a lead.activity for each new one about a known lead."""
    db = await uow.driver()
    by_email = await batch_repository.lead_ids_by_email(db, sorted({
        i.email for i in items if i.activity.lead_id is None and i.email}))
    existing = await batch_repository.existing_lead_ids(db, sorted({
        i.activity.lead_id for i in items if i.activity.lead_id is not None}))
    visitors = await batch_repository.visitor_leads(db, sorted({
        i.activity.visitor_id for i in items
        if i.activity.lead_id is None and not i.email and i.activity.visitor_id}))
    results: list[ActivityAccepted | Exception] = []
    rows: list[tuple[Any, ...]] = []
    for item in items:
        activity = item.activity
        lead_id = activity.lead_id
        if lead_id is None and item.email:
            lead_id = by_email.get(item.email)
            if lead_id is None:
                results.append(NotFound("no lead with this email"))
                continue
        elif lead_id is not None and lead_id not in existing:
            results.append(NotFound("no lead with this id"))
            continue
        elif lead_id is None and activity.visitor_id:
            lead_id = visitors.get(activity.visitor_id)
        rows.append((item.activity_id, lead_id, activity.visitor_id, activity.kind,
                     item.occurred_at, activity.url,
                     _json(activity.source.model_dump(mode="json")),
                     _json(activity_properties(activity))))
        results.append(ActivityAccepted(activity_id=item.activity_id, lead_id=lead_id))
    inserted = await batch_repository.insert_activities(db, rows)
    # Ids stored before (a retried request): answered as first recorded, published then.
    stored = await batch_repository.activity_leads(
        db, [r[0] for r in rows if r[0] not in inserted])
    for n, (item, result) in enumerate(zip(items, results, strict=True)):
        if not isinstance(result, ActivityAccepted):
            continue
        if result.activity_id not in inserted:
            results[n] = ActivityAccepted(activity_id=result.activity_id,
                                          lead_id=stored.get(result.activity_id))
        elif result.lead_id is not None:
            activity = item.activity
            _publish(uow, [LeadActivity(
                lead_id=result.lead_id, activity_id=result.activity_id, kind=activity.kind,
                occurred_at=item.occurred_at, url=activity.url, source=activity.source,
                properties=activity_properties(activity))], item.traceparent)
    return results


# --- shared --------------------------------------------------------------------------------


async def _replays(db: asyncpg.Connection, claims: list[Claim | None]
                   ) -> list[Response | Exception | None]:
    """Claim every key; per request, the first answer (or 422) when its key was used before,
    None when it is this request's to answer."""
    taken = await batch_repository.claim_keys(
        db, [(c.scope, c.key, c.fingerprint) for c in claims if c is not None])
    results: list[Response | Exception | None] = []
    for claim in claims:
        row = taken.get((claim.scope, claim.key)) if claim is not None else None
        if row is None or claim is None:
            results.append(None)
            continue
        try:
            results.append(idempotency.replay(row["request_sha256"], row["status_code"],
                                              from_jsonb(row["response"]) or {},
                                              claim.fingerprint))
        except HTTPException as exc:
            results.append(exc)
    return results


def _remember(answers: list[tuple[str, str, int, str]], claim: Claim | None, code: int,
              stored: dict[str, Any]) -> None:
    if claim is not None:
        answers.append((claim.scope, claim.key, code, _json(stored)))


def _publish(uow: UnitOfWork, events: list[EventData], traceparent: str | None,
             key: bytes | None = None) -> None:
    """Publish one request's events, continuing that request's trace (sealed with the lead's
    fresh `key` when this batch issued it)."""
    for event in events:
        if traceparent is not None:
            uow.causes[str(event.lead_id)] = traceparent  # type: ignore[attr-defined]
        publish_sealed(uow, event, key)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass
class Writers:
    """The group commits of one capture process."""

    leads: GroupCommit[LeadRequest, Response]
    submissions: GroupCommit[SubmissionRequest, Answered]
    activities: GroupCommit[ActivityRequest, ActivityAccepted]


def writers(runtime: Runtime) -> Writers:
    """This process's group commits (made on first use, on the running event loop)."""
    found: Writers | None = getattr(runtime, "capture_writers", None)
    if found is None:
        def claim_key(item: LeadRequest | SubmissionRequest) -> tuple[str, str] | None:
            return None if item.claim is None else (item.claim.scope, item.claim.key)

        found = Writers(
            leads=GroupCommit("leads", runtime.unit_of_work, apply_leads,
                              conflict_key=claim_key),
            submissions=GroupCommit(
                "submissions", runtime.unit_of_work,
                functools.partial(apply_submissions,
                                  settings=settings_of(runtime, CaptureSettings)),
                conflict_key=claim_key),
            activities=GroupCommit("activities", runtime.unit_of_work, apply_activities,
                                   max_items=1000, conflict_key=lambda i: i.activity_id))
        runtime.capture_writers = found  # type: ignore[attr-defined]
    return found
