"""The lifecycle stage of a lead: one definition every service reads. Pure, no I/O.

A lead walks one path, subscriber → lead → MQL → SQL (sales-accepted) → opportunity → customer
→ repeat customer, and may step off it beside the path: disqualified, or closed without
converting. Outcomes owns each lead's stage (it sees every event and records the deals) and
announces each change as `lead.stage_changed`; the others keep what they need from that event.

Stages only move forward (`can_move`); an admin reset (outcomes' API) is the one way back.
"""

from enum import StrEnum


class LifecycleStage(StrEnum):
    """Where a lead is in its life with us, from first sign-up to buying again."""

    subscriber = "subscriber"  # signed up for content (a newsletter), no sign of interest yet
    lead = "lead"  # showed interest: a form, an import, an API call
    mql = "mql"  # marketing-qualified (scoring)
    sql = "sql"  # sales-accepted (a rep accepted the hand-off)
    opportunity = "opportunity"  # a deal is open
    customer = "customer"  # won a first deal
    repeat_customer = "repeat_customer"  # won another deal after the first
    disqualified = "disqualified"  # beside the path: a disqualifier matched
    closed_not_converted = "closed_not_converted"  # beside the path: closed without a deal


PATH: tuple[LifecycleStage, ...] = (
    LifecycleStage.subscriber, LifecycleStage.lead, LifecycleStage.mql, LifecycleStage.sql,
    LifecycleStage.opportunity, LifecycleStage.customer, LifecycleStage.repeat_customer)
"""The path, in order."""

BESIDE_PATH: frozenset[LifecycleStage] = frozenset(
    {LifecycleStage.disqualified, LifecycleStage.closed_not_converted})
"""Stages a lead steps off the path into."""

CUSTOMER_STAGES: frozenset[LifecycleStage] = frozenset(
    {LifecycleStage.customer, LifecycleStage.repeat_customer})
"""Stages of a lead that bought: its new interest goes to its owner, not to a new-lead rotation."""

_RANK = {stage: rank for rank, stage in enumerate(PATH)}


def rank(stage: LifecycleStage) -> int:
    """A path stage's place on the path (subscriber 0 ... repeat customer 6); -1 beside it."""
    return _RANK.get(stage, -1)


def can_move(current: LifecycleStage | None, target: LifecycleStage) -> bool:
    """Whether a lead at `current` (None: no stage yet) moves to `target` on its own, without
    an admin reset. Forward only:

    - along the path, only to a later stage;
    - off the path (disqualified, closed without converting) from any path stage before
      customer: a customer is never disqualified by a rule nor closed as not converted;
    - back onto the path from beside it: a closed lead that qualifies again (MQL or later)
      starts a new attempt; a disqualified lead only when sales opens a deal (opportunity or
      later), as sales overrules the disqualifier.
    """
    if current is None:
        return True
    if current == target:
        return False
    if target in BESIDE_PATH:
        return current not in BESIDE_PATH and rank(current) < rank(LifecycleStage.customer)
    if current is LifecycleStage.closed_not_converted:
        return rank(target) >= rank(LifecycleStage.mql)
    if current is LifecycleStage.disqualified:
        return rank(target) >= rank(LifecycleStage.opportunity)
    return rank(target) > rank(current)


def is_customer(stage: LifecycleStage | str | None) -> bool:
    """Whether a lead at `stage` has bought from us."""
    return stage is not None and stage in CUSTOMER_STAGES
