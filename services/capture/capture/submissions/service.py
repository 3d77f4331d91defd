"""Writing form submissions: a batch of them (the group commit of form posts) stores the leads,
their form_submitted activities, the visitors identified, the submissions and the consent
confirmations to mail, and answers each request on its own."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi.responses import Response

from capture.activities import repository as activities_repository
from capture.activities.repository import Activity
from capture.activities.service import activity_event
from capture.config import CaptureSettings
from capture.consent.domain import ConfirmationRequest
from capture.consent.service import request_confirmations
from capture.forms.definition import FormConfigIn
from capture.idempotency import service as idempotency
from capture.idempotency.service import Claim
from capture.leads.keys import publish_all
from capture.leads.plan import LeadWrite
from capture.leads.service import capture_leads
from capture.submissions import repository
from capture.submissions.domain import answer_for
from capture.submissions.repository import StoredSubmission
from leadloop.db import UnitOfWork
from leadloop.events.models import EventData


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


async def apply_submissions(uow: UnitOfWork, items: list[SubmissionRequest],
                            settings: CaptureSettings) -> list[Answered | Exception]:
    """Write a batch of form submissions: leads, their form_submitted activities, visitors
    identified, submissions, consent confirmations to mail; each request's events in its own
    order."""
    db = await uow.driver()
    replays = await idempotency.replays(db, [i.claim for i in items])
    results: list[Answered | Exception | None] = [
        r if r is None or isinstance(r, Exception) else Answered(r, None) for r in replays]
    todo = [n for n, r in enumerate(results) if r is None]
    leads = [n for n in todo if items[n].write is not None]
    captured = dict(zip(leads, await capture_leads(
        uow, [write for n in leads if (write := items[n].write) is not None]), strict=True))
    activities: dict[int, Activity] = {}
    links: dict[str, UUID] = {}  # visitor -> lead: the last submission wins
    attach: dict[str, UUID] = {}  # visitor -> lead its anonymous activities go to: the first
    owner: dict[str, int] = {}
    for n in leads:
        item, lead_id = items[n], captured[n].lead_id
        assert item.write is not None
        source = item.write.lead.source
        properties: dict[str, Any] = {"form_id": item.form_id,
                                      "submission_id": str(item.submission_id)}
        if item.unverified_reason:
            properties["unverified"] = item.unverified_reason
        activities[n] = Activity(uuid.uuid4(), lead_id, item.visitor_id, "form_submitted",
                                 item.now, source.landing_page, source, properties)
        if item.visitor_id:
            links[item.visitor_id] = lead_id
            attach.setdefault(item.visitor_id, lead_id)
            owner.setdefault(item.visitor_id, n)
    await activities_repository.insert_activities(db, list(activities.values()))
    now = max((items[n].now for n in leads), default=None)
    attached = await activities_repository.identify_visitors(
        db, list(links.items()), list(attach.items()), now) if now is not None else []
    await repository.insert_submissions(db, [StoredSubmission(
        items[n].submission_id, items[n].form_id,
        captured[n].lead_id if n in captured else None, _status(items[n]),
        items[n].spam_reason or items[n].unverified_reason, items[n].payload) for n in todo])
    await request_confirmations(db, [
        ConfirmationRequest(done.lead_id, done.to_confirm, items[n].form_id,
                            items[n].submission_id)
        for n, done in captured.items() if done.to_confirm is not None], settings)
    answers = idempotency.Answers([])
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
            activity = activities[n]
            events: list[EventData] = [*done.events, activity_event(activity, done.lead_id)]
            if item.visitor_id and owner[item.visitor_id] == n:
                events += [activity_event(row, row.lead_id) for row in attached
                           if row.visitor_id == item.visitor_id and row.lead_id is not None]
            publish_all(uow, events, item.traceparent, done.key)
            answer: dict[str, Any] = {"submission_id": str(item.submission_id),
                                      "lead_id": str(done.lead_id), "status": done.status}
            code = 201 if done.status == "created" else 200
            if item.public:
                code, answer = public_answer(item)
            elif item.unverified_reason:
                answer["unverified"] = item.unverified_reason
            code, stored = answer_for(item.form, item.browser, code, answer)
            outcome = _status(item)
        results[n] = Answered(idempotency.to_response(code, stored), outcome)
        answers.add(item.claim, code, stored)
    await answers.store(db)
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
