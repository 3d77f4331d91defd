"""What the sales page shows besides handoff's own rows: the time left to an SLA deadline, and
each lead's timeline and score explanation, read from outcomes' API.

Why over HTTP from outcomes: handoff's copy of a lead stops at the lead.qualified it routed;
the rescoring after it, nurture's messages and their opens and clicks, the deals and the SLA
history are only in outcomes, which consumes every topic and keeps each lead's timeline
(GET /v1/leads/{id}/timeline). Copying all of it into handoff would make a second read model of
every topic. The page checks the rep may see the lead before it asks, with a key of its own
(LEADLOOP_HANDOFF_OUTCOMES_KEY, outcomes' leads:read scope); when outcomes does not answer,
the lead page still works and says the timeline is unavailable.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx

from handoff.config import HandoffSettings

log = logging.getLogger(__name__)


def time_left(deadline: datetime | None, now: datetime) -> tuple[str, bool]:
    """("12 min left" | "overdue 3 min" | "no deadline", overdue?) for a queue row."""
    if deadline is None:
        return "no deadline", False
    seconds = (deadline - now).total_seconds()
    overdue = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        amount = f"{int(seconds)} s"
    elif seconds < 3600:
        amount = f"{int(seconds // 60)} min"
    elif seconds < 48 * 3600:
        amount = f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    else:
        amount = f"{int(seconds // 86400)} days"
    return (f"overdue {amount}" if overdue else f"{amount} left"), overdue


@dataclass(frozen=True, slots=True)
class LeadStory:
    """The lead's timeline (oldest first) and latest score explanation, or why there is none."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    score: dict[str, Any] | None = None
    unavailable: str | None = None


TIMELINE_LIMIT = 200  # the page shows the latest this many entries


async def lead_story(settings: HandoffSettings, lead_id: UUID) -> LeadStory:
    """The lead's timeline and score explanation from outcomes (the latest TIMELINE_LIMIT
    entries); never raises: a failure is told on the page."""
    if not settings.outcomes_url or not settings.outcomes_key:
        return LeadStory(unavailable="the timeline is not configured (LEADLOOP_HANDOFF_"
                         "OUTCOMES_URL and _OUTCOMES_KEY)")
    url = f"{settings.outcomes_url.rstrip('/')}/v1/leads/{lead_id}/timeline"
    entries: list[dict[str, Any]] = []
    score = None
    cursor: str | None = None
    try:
        async with httpx.AsyncClient(timeout=settings.outcomes_timeout_s) as client:
            while True:  # the newest entries matter most: walk to the end, keep the last ones
                params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                response = await client.get(url, params=params,
                                            headers={"X-API-Key": settings.outcomes_key})
                if response.status_code == 404:
                    return LeadStory(unavailable="outcomes has no timeline for this lead yet")
                response.raise_for_status()
                page = response.json()
                entries = (entries + page["items"])[-TIMELINE_LIMIT:]
                score = page.get("score")
                cursor = page.get("next_cursor")
                if cursor is None:
                    return LeadStory(entries=entries, score=score)
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        log.warning("lead timeline from outcomes failed: %s", type(exc).__name__)
        return LeadStory(unavailable=f"outcomes did not answer ({type(exc).__name__})")
