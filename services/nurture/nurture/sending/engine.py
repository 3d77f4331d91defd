"""Where an enrollment goes next: waits, branches and sends, as a pure function of time and facts.

An enrollment stands at one step, entered at `step_started_at`. The scheduler asks `next_action`
whenever the enrollment is due; the answer is to sleep until a time, to send the step it stands
on, or that the sequence is complete. Waits and branch windows are measured from when the step
was entered, so a scheduler that was down catches up without repeating or skipping a step.
"""

from collections.abc import Sequence as Seq
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from nurture.sequences.steps import (
    BranchCondition,
    BranchStep,
    Goto,
    SendEmailStep,
    SendStep,
    SequenceStep,
    WaitStep,
)


@dataclass(frozen=True)
class Position:
    """Where an enrollment stands."""

    step: int
    step_started_at: datetime
    last_sent_at: datetime | None = None


@dataclass(frozen=True)
class Engagement:
    """Something the lead did that a branch can watch: email_opened, email_clicked, page_view."""

    kind: str
    at: datetime
    url: str | None = None


@dataclass(frozen=True)
class LeadFacts:
    """What branches look at."""

    engagements: Seq[Engagement] = field(default_factory=tuple)
    score: int | None = None


@dataclass(frozen=True)
class Sleep:
    """Nothing to do until `due`."""

    position: Position
    due: datetime


@dataclass(frozen=True)
class SendDue:
    """The step the enrollment stands on is a send: run the guards, then send it."""

    position: Position
    step: SendEmailStep | SendStep


@dataclass(frozen=True)
class Complete:
    """The enrollment went past its last step."""

    position: Position


Action = Sleep | SendDue | Complete

_KIND_OF = {BranchCondition.opened: "email_opened", BranchCondition.clicked: "email_clicked",
            BranchCondition.visited: "page_view"}


def branches_ahead(steps: Seq[SequenceStep], step: int) -> bool:
    """Whether an enrollment standing at `step` may still reach a branch (branches and waits
    only move forward): only then does it look at what the lead did."""
    return any(isinstance(s, BranchStep) for s in steps[step:])


def condition_met(step: BranchStep, facts: LeadFacts, since: datetime) -> bool:
    """Whether the branch's condition happened since `since` (score: holds now)."""
    if step.condition == BranchCondition.score_above:
        return facts.score is not None and step.score is not None and facts.score > step.score
    kind = _KIND_OF[step.condition]
    return any(
        e.kind == kind and e.at >= since
        and (step.url_contains is None or (e.url is not None and step.url_contains in e.url))
        for e in facts.engagements
    )


def _goto(steps: Seq[SequenceStep], here: int, target: Goto) -> int:
    if target is None:
        return here + 1
    if target == "end":
        return len(steps)
    return target


def next_action(steps: Seq[SequenceStep], position: Position, facts: LeadFacts,
                now: datetime, zone: ZoneInfo) -> Action:
    """What the enrollment at `position` does at `now`."""
    if now < position.step_started_at:
        # Still in its entry delay (re-engage after 90 days, recycle after 3): an early wake-up
        # (a new score, a page view) must not bring its first send forward.
        return Sleep(position, position.step_started_at)
    # Branches only jump forward (Sequence validates it), so this walk ends.
    while position.step < len(steps):
        step = steps[position.step]
        if isinstance(step, (SendEmailStep, SendStep)):
            return SendDue(position, step)
        if isinstance(step, WaitStep):
            ends = step.ends_at(position.step_started_at, zone)
            if now < ends:
                return Sleep(position, ends)
            position = replace(position, step=position.step + 1, step_started_at=now)
            continue
        since = position.last_sent_at or position.step_started_at
        if condition_met(step, facts, since):
            target = _goto(steps, position.step, step.then)
        elif now >= position.step_started_at + step.window:
            target = _goto(steps, position.step, step.otherwise)
        else:
            return Sleep(position, position.step_started_at + step.window)
        position = replace(position, step=target, step_started_at=now)
    return Complete(position)


def after_send(position: Position, now: datetime) -> Position:
    """The position once the current send step is done (sent or skipped for good)."""
    return Position(step=position.step + 1, step_started_at=now, last_sent_at=now)


def after_skip(position: Position, now: datetime) -> Position:
    """The position once the current send step is skipped (no consent): no send time."""
    return replace(position, step=position.step + 1, step_started_at=now)
