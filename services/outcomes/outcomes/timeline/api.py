"""GET /v1/leads/{lead_id}/timeline (scope leads:read): a lead's whole story in one answer.

Time order, oldest first (within one instant, an entry after the one that caused it), in the
shared cursor envelope, with the lead's current score and the rules behind it. Outcomes keeps no
rep identities, so a key here sees every lead: it is for integrations and for handoff's sales
page, which checks the rep may see the lead first.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import Page, cursor_query, limit_query, page_of, parse_cursor
from outcomes.funnel.repository import funnel_lead_state
from outcomes.lifecycle import repository as lifecycle_repository
from outcomes.timeline import repository
from outcomes.timeline.repository import TimelineEntry, timeline_key

router = APIRouter(prefix="/v1", tags=["timeline"])
SCOPE = "leads:read"


class TimelineEntryOut(BaseModel):
    """One thing that happened to the lead."""

    id: str = Field(description="the event's id (CloudEvents `id`)")
    lead_id: UUID = Field(description="the lead record it happened to: this lead, or a "
                                      "duplicate merged into it")
    type: str = Field(description="the event's type, e.g. leadloop.lead.accepted.v1")
    kind: str = Field(description="created, updated, page_view, email_opened, email_clicked, "
                      "email_replied, message_sent, scored, qualified, assigned, queued, "
                      "sla_breached, queue_alert, accepted, rejected, contacted, deal_opened, "
                      "deal_won, deal_lost, ...")
    occurred_at: datetime
    summary: str = Field(description="one line for people")
    actor: str | None = Field(description="who did it, for sales actions and manual assignments")
    detail: dict[str, Any] = Field(description="what the event said (a score's contributions, "
                                   "a rejection's reason code, a deal's amount, ...)")

    @classmethod
    def of(cls, row: TimelineEntry) -> "TimelineEntryOut":
        """From a timeline_entries row."""
        return cls(id=row.entry_id, lead_id=row.lead_id, type=row.type, kind=row.kind,
                   occurred_at=row.occurred_at, summary=row.summary, actor=row.actor,
                   detail=row.detail)


class ScoreOut(BaseModel):
    """The lead's latest score and why: each rule's points and reason, largest first."""

    scored_at: datetime
    score: int
    grade: str
    fit_score: int
    engagement_score: int
    is_mql: bool
    model_version: int
    win_probability: float | None = None
    contributions: list[dict[str, Any]]


class LifecycleOut(BaseModel):
    """The lead's lifecycle stage (leadloop.lifecycle) and since when."""

    stage: str = Field(description="subscriber, lead, mql, sql, opportunity, customer, "
                       "repeat_customer, disqualified or closed_not_converted")
    since: datetime | None = Field(description="when the lead reached it (or was reset to it)")
    reset_at: datetime | None = Field(description="the latest admin reset, if any")


class TimelinePage(Page[TimelineEntryOut]):
    """A page of the lead's timeline, its current score explanation and lifecycle stage."""

    lead_id: UUID
    score: ScoreOut | None = Field(description="null until the lead has been scored")
    lifecycle: LifecycleOut | None = Field(
        default=None, description="null until an event gave the lead a stage")


# The timeline's sort key (repository.timeline_key) as a cursor reads it back.
_KEY = (datetime.fromisoformat, int, str)


def _cursor_key(row: TimelineEntry) -> list[Any]:
    at, rank, entry_id = timeline_key(row)
    return [at.isoformat(), rank, entry_id]


@router.get("/leads/{lead_id}/timeline", response_model=TimelinePage,
            dependencies=[Depends(require_scope(SCOPE))],
            responses={404: {"description": "no event about this lead has been seen, or it was "
                             "erased"}})
async def lead_timeline(lead_id: UUID, limit: int = limit_query(),
                        cursor: str | None = cursor_query(),
                        uow: UnitOfWork = Depends(unit_of_work)) -> TimelinePage:
    """Everything that happened to the lead, oldest first: capture's activities, nurture's
    messages with their opens, clicks and replies, score changes with their reasons,
    assignments, SLA events, accept / reject / contacted (and who), deals."""
    after = parse_cursor(cursor, _KEY)
    async with uow:
        state = await funnel_lead_state(uow.connection, lead_id)
        rows = await repository.timeline_page(uow.connection, lead_id, after, limit + 1)
        score = await repository.latest_score_entry(uow.connection, lead_id)
        stage = await lifecycle_repository.get_stage(uow.connection, lead_id)
    if (state is None and not rows) or state:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            "no timeline for this lead (unknown, or erased)")
    kept, next_cursor = page_of(rows, limit, _cursor_key)
    return TimelinePage(
        lead_id=lead_id, items=[TimelineEntryOut.of(row) for row in kept],
        next_cursor=next_cursor,
        score=None if score is None else ScoreOut(scored_at=score.occurred_at, **score.detail),
        lifecycle=None if stage is None or stage.stage is None else LifecycleOut(
            stage=stage.stage.value, since=stage.stage_at, reset_at=stage.reset_at))
