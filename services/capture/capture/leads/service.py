"""Capture's lead use cases: a batch of leads stored as if captured one by one (the group commit
of POST /v1/leads, and the leads of form submissions)."""

from dataclasses import dataclass, replace

from fastapi import status
from fastapi.responses import JSONResponse, Response

from capture.idempotency import service as idempotency
from capture.idempotency.service import Claim
from capture.leads import repository
from capture.leads.keys import publish_all
from capture.leads.plan import Captured, LeadWrite, plan_captures
from capture.leads.repository import NewLead
from leadloop.db import UnitOfWork
from leadloop.events.models import event_time_now
from leadloop.events.topology import KEY_OWNER
from leadloop.keyring import issue_keys


@dataclass
class LeadRequest:
    """POST /v1/leads, validated."""

    write: LeadWrite
    claim: Claim | None = None
    traceparent: str | None = None


async def capture_leads(uow: UnitOfWork, writes: list[LeadWrite]) -> list[Captured]:
    """Store a batch of leads, once per normalized email, as if captured one by one in order:
    one insert, one locking read (and one for merge survivors), one update. The caller
    publishes each request's events (`Captured.events`)."""
    if not writes:
        return []
    db = await uow.driver()
    first: dict[str, LeadWrite] = {}
    for write in writes:
        first.setdefault(write.profile.email, write)
    inserted = await repository.insert_new_leads(db, [
        NewLead(w.new_id, email, w.profile, w.lead.consent, w.lead.source)
        for email, w in first.items()])
    keys = await issue_keys(db, [str(lead_id) for lead_id in inserted], KEY_OWNER)
    known = [email for email, w in first.items() if w.new_id not in inserted]
    by_email = {row.email: row for row in await repository.lock_leads_by_email(db, known)}
    survivors = sorted({r.merged_into for r in by_email.values() if r.merged_into})
    by_id = {row.id: row for row in await repository.lock_leads_by_id(db, survivors)}
    now = event_time_now()
    plan = plan_captures(writes, inserted, by_email, by_id, now)
    await repository.update_leads(db, list(plan.updated.values()), now)
    return [replace(c, key=keys.get(str(c.lead_id))) for c in plan.captured]


async def apply_leads(uow: UnitOfWork, items: list[LeadRequest]
                      ) -> list[Response | Exception]:
    """Write a batch of POST /v1/leads: one claim of keys, the leads, one store of answers."""
    db = await uow.driver()
    results: list[Response | Exception | None] = list(
        await idempotency.replays(db, [i.claim for i in items]))
    todo = [n for n, r in enumerate(results) if r is None]
    captured = await capture_leads(uow, [items[n].write for n in todo])
    answers = idempotency.Answers([])
    for n, done in zip(todo, captured, strict=True):
        publish_all(uow, done.events, items[n].traceparent, done.key)
        body = {"lead_id": str(done.lead_id), "status": done.status}
        code = status.HTTP_201_CREATED if done.status == "created" else status.HTTP_200_OK
        results[n] = JSONResponse(body, status_code=code)
        answers.add(items[n].claim, code, {"kind": "json", "body": body})
    await answers.store(db)
    return [r for r in results if r is not None]
