"""Group commit: requests written together get exactly what they would get one at a time."""

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.leads.domain import consent_changes, merge_lead
from capture.leads.plan import LeadWrite, StoredLead, plan_captures
from capture.leads.validation import LeadIn
from capture.writes.group_commit import GroupCommit
from leadloop.events.models import Consent, LeadProfile, event_time_now
from tests.support.lead_bodies import lead_bodies

EMAILS = ["ann@example.com", "bo@example.com", "cy@example.com", "dee@example.com"]
NOW = event_time_now()


def writes() -> st.SearchStrategy[LeadWrite]:
    return lead_bodies(EMAILS, {"first_name": ["Ann", "Bo"], "company": ["Acme", "Initech"],
                                "country": ["de", "FR"]}).map(
        lambda body: LeadWrite.of(LeadIn.model_validate(body)))


@st.composite
def stored_leads(draw: st.DrawFn) -> dict[str, StoredLead]:
    """Some emails already stored; maybe one merged into another."""
    stored = {}
    for email in draw(st.lists(st.sampled_from(EMAILS), unique=True, max_size=3)):
        stored[email] = StoredLead(uuid.uuid4(), email, LeadProfile(
            email=email, company=draw(st.sampled_from([None, "Acme", "Globex"]))),
            Consent(email_marketing=draw(st.booleans())))
    if len(stored) >= 2 and draw(st.booleans()):
        absorbed, survivor = list(stored.values())[:2]
        stored[absorbed.email] = StoredLead(absorbed.id, absorbed.email, absorbed.profile,
                                            absorbed.consent, merged_into=survivor.id)
    return stored


def _one_at_a_time(batch: list[LeadWrite], stored: dict[str, StoredLead]
                   ) -> tuple[list[tuple[UUID, str, list[Any]]], dict[UUID, StoredLead]]:
    """The single-request rules (capture_lead before group commit), applied in order."""
    by_email = dict(stored)
    by_id = {lead.id: lead for lead in stored.values()}
    outcomes = []
    for write in batch:
        email = write.profile.email
        if email not in by_email:
            lead = StoredLead(write.new_id, email, write.profile, write.lead.consent)
            by_email[email] = by_id[lead.id] = lead
            outcomes.append((lead.id, "created", [
                "created", *consent_changes(None, write.lead.consent)]))
            continue
        row, profile = by_id[by_email[email].id], write.profile
        if row.merged_into is not None:
            row = by_id[row.merged_into]
            profile = profile.model_copy(update={"email": row.email})
        merged, consent, changed = merge_lead(row.profile, row.consent, profile,
                                              write.consent_given)
        if not changed:
            outcomes.append((row.id, "unchanged", []))
            continue
        by_id[row.id] = StoredLead(row.id, row.email, merged, consent, row.merged_into)
        outcomes.append((row.id, "updated", [
            ("updated", tuple(changed)), *consent_changes(row.consent, consent)]))
    return outcomes, by_id


@settings(max_examples=300, deadline=None)
@given(st.lists(writes(), min_size=1, max_size=8), stored_leads())
def test_a_batch_decides_like_requests_one_at_a_time(batch: list[LeadWrite],
                                                     stored: dict[str, StoredLead]) -> None:
    expected, final = _one_at_a_time(batch, stored)
    first_new = {}
    for write in batch:  # the batch inserts the first write of each new email
        if write.profile.email not in stored:
            first_new.setdefault(write.profile.email, write.new_id)
    survivors = {lead.id: lead for lead in stored.values()}
    plan = plan_captures(batch, set(first_new.values()), stored, survivors, NOW)
    got = []
    for done in plan.captured:
        summary: list[Any] = []
        for event in done.events:
            kind = type(event).__name__
            if kind == "LeadCreated":
                summary.append("created")
            elif kind == "LeadUpdated":
                summary.append(("updated", tuple(event.changed_fields)))  # type: ignore[attr-defined]
            else:
                summary.append((event.purpose, event.granted))  # type: ignore[attr-defined]
        got.append((done.lead_id, done.status, summary))
    assert got == expected
    # What is written: the final state of every lead the batch changed, and no other.
    for lead_id, lead in final.items():
        if lead_id in plan.updated:
            assert (plan.updated[lead_id].profile, plan.updated[lead_id].consent) == (
                lead.profile, lead.consent)
        elif lead_id in survivors:
            assert lead == survivors[lead_id]


# --- the batcher itself --------------------------------------------------------------------


@dataclass
class FakeUnitOfWork:
    log: list[str]
    fail_when: Any = None
    applied: list[Any] = field(default_factory=list)

    async def __aenter__(self) -> "FakeUnitOfWork":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def commit(self) -> None:
        await asyncio.sleep(0)  # a round trip: another batch may be written meanwhile
        if self.fail_when is not None and self.fail_when(self.applied):
            raise RuntimeError("constraint violated")
        self.log.append(f"commit {self.applied}")


def _batcher(log: list[str], fail_when: Any = None, **kwargs: Any
             ) -> GroupCommit[Any, Any]:
    async def apply(uow: Any, items: list[Any]) -> list[Any]:
        uow.applied = list(items)
        return [ValueError(f"bad {i}") if str(i).startswith("4xx") else f"ok {i}"
                for i in items]
    return GroupCommit("test", lambda: FakeUnitOfWork(log, fail_when),  # type: ignore[arg-type]
                       apply, **kwargs)


@pytest.mark.asyncio
async def test_concurrent_requests_share_one_commit_and_keep_their_own_answers() -> None:
    log: list[str] = []
    batcher = _batcher(log)
    results = await asyncio.gather(*(batcher.submit(i) for i in (1, 2, "4xx", 3)),
                                   return_exceptions=True)
    assert results[:2] == ["ok 1", "ok 2"] and results[3] == "ok 3"
    assert isinstance(results[2], ValueError)
    assert log == ["commit [1, 2, '4xx', 3]"]


@pytest.mark.asyncio
async def test_a_failed_batch_is_applied_one_by_one_so_one_bad_row_fails_only_itself() -> None:
    log: list[str] = []
    batcher = _batcher(log, fail_when=lambda items: "poison" in items)
    results = await asyncio.gather(*(batcher.submit(i) for i in (1, "poison", 2)),
                                   return_exceptions=True)
    assert results[0] == "ok 1" and results[2] == "ok 2"
    assert isinstance(results[1], RuntimeError)
    assert log == ["commit [1]", "commit [2]"]


@pytest.mark.asyncio
async def test_same_key_waits_for_the_next_batch_and_batches_are_capped() -> None:
    log: list[str] = []
    batcher = _batcher(log, max_items=2, in_flight=1, conflict_key=lambda i: i % 10)
    await asyncio.gather(*(batcher.submit(i) for i in (1, 11, 2, 3)))
    assert log == ["commit [1, 2]", "commit [11, 3]"]


@pytest.mark.asyncio
async def test_two_batches_in_flight_never_hold_the_same_key() -> None:
    log: list[str] = []
    batcher = _batcher(log, max_items=2, conflict_key=lambda i: i % 10)
    results = await asyncio.gather(*(batcher.submit(i) for i in (1, 11, 2, 3, 21)))
    assert results == ["ok 1", "ok 11", "ok 2", "ok 3", "ok 21"]
    batches = [[int(i) for i in entry[len("commit ["):-1].split(", ")] for entry in log]
    assert sorted(i for batch in batches for i in batch) == [1, 2, 3, 11, 21]
    assert all(len({i % 10 for i in batch}) == len(batch) for batch in batches)
    order = [i for batch in batches for i in batch if i % 10 == 1]
    assert order == [1, 11, 21], "one key's requests are written in arrival order"
    assert len(batches) >= 3, "conflicting items wait for a later batch"
