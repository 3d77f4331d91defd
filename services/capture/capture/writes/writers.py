"""Capture's write requests as group commits: leads, form submissions and activities.

A route validates without the database and submits a prepared request here; the requests
waiting at that moment are written together (see `capture.writes.group_commit`), each still
getting its own answer, its own Idempotency-Key handling and its own 4xx. What a batch writes
is each feature's use case: `leads.service.apply_leads`, `submissions.service.apply_submissions`,
`activities.service.apply_activities`.
"""

import functools
from dataclasses import dataclass

from fastapi.responses import Response

from capture.activities.service import ActivityRequest, RecordedActivity, apply_activities
from capture.config import CaptureSettings
from capture.leads.service import LeadRequest, apply_leads
from capture.submissions.service import Answered, SubmissionRequest, apply_submissions
from capture.writes.group_commit import GroupCommit
from leadloop.app import Runtime, settings_of


@dataclass
class Writers:
    """The group commits of one capture process."""

    leads: GroupCommit[LeadRequest, Response]
    submissions: GroupCommit[SubmissionRequest, Answered]
    activities: GroupCommit[ActivityRequest, RecordedActivity]


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
