"""Each lead's recent activities, and their engagement tally, kept in memory from one batch to
the next. No I/O.

A busy lead's page views arrive over many batches, and each batch would otherwise load its
whole recent history again (a hundred rows a lead on a busy site) and tally it again. The
consumer that owns a lead's partition applies nearly all of its events, so what one batch
leaves is what the next would load. What is kept is used only while the lead row's
`activities_version` (read with the row's lock) is the one it was kept at: every statement that
changes a lead's activities gives it a new random value (a batch that stores some, a merge, an
unmerge, an erasure), in whichever process it runs, so after any other writer the next batch
loads from the database again. Random rather than counted: a value a rolled-back transaction
drew, or another database's (tests run several in one process), is never one a lead gets
again. A batch takes its leads' entries out while it applies them (it changes
them in place) and puts them back only once it committed: one that rolls back leaves nothing
behind. Bounded by the number of leads and of activities kept (a lead with its tally and fit
is a few kilobytes); the least recently used leads go first.
"""

import random
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from scoring.leads.batch import Judged
from scoring.rules.activities import Activity
from scoring.rules.engagement import EngagementTally

YOUNG_GENERATION = 100_000
"""Allocations between two young collections in a process that keeps leads (scoring.main passes
it to the app factory, leadloop.app.settle_heap; other services use 10,000).
What is kept is a few hundred thousand long-lived objects, and a batch's decoded events live
as long as the batch: at Python's default (a young collection every 700 allocations) the
collector went over them so often that it took a third of `apply_batch`'s CPU
(bench/p7_scoring_cpu.py: 102 -> 70 µs per page view at 10,000); in P7, scoring's collector
took 1.5 s of its 10 s of CPU at 10,000, 0.3 s at 100,000 (garbage here is freed by reference
counting, cycles are rare, so a young generation this large costs little memory)."""


def new_version() -> int:
    """A new activities_version (a positive 63-bit number, as the database's are)."""
    return random.getrandbits(62) + 1


@dataclass(slots=True)
class Kept:
    """A lead's activities that happened after `since` as of its `activities_version`, and,
    once it was scored, their tally (at the batch's time, under the model it applied) and its
    fit and disqualifier (used again only for a lead with the same fields)."""

    version: int
    since: datetime
    activities: list[Activity]
    tally: EngagementTally | None = None
    judged: Judged | None = None


class KeptActivities:
    """Leads' `Kept` state by lead id, least recently used first."""

    def __init__(self, max_leads: int = 10_000, max_activities: int = 200_000) -> None:
        self._max_leads, self._max = max_leads, max_activities
        self._kept: OrderedDict[UUID, Kept] = OrderedDict()
        self._size = 0  # activities kept in all

    def __len__(self) -> int:
        return len(self._kept)

    def take(self, lead_id: UUID, version: int, since: datetime) -> Kept | None:
        """The lead's kept state, taken out, with only the activities after `since`; None
        when nothing is kept at this version, or it was kept for a later `since` (a model
        with a longer window, a clock set back: older activities may be missing)."""
        kept = self._kept.pop(lead_id, None)
        if kept is None:
            return None
        self._size -= len(kept.activities)
        if kept.version != version or since < kept.since:
            return None
        if since > kept.since:
            kept.activities = [a for a in kept.activities if a.occurred_at > since]
            kept.since = since
        return kept

    def put(self, lead_id: UUID, kept: Kept) -> None:
        """Keep the lead's state (as of a committed batch), the most recently used."""
        previous = self._kept.pop(lead_id, None)
        if previous is not None:
            self._size -= len(previous.activities)
        if len(kept.activities) > self._max:
            return
        self._kept[lead_id] = kept
        self._size += len(kept.activities)
        while self._size > self._max or len(self._kept) > self._max_leads:
            _, oldest = self._kept.popitem(last=False)
            self._size -= len(oldest.activities)

    def clear(self) -> None:
        """Forget every lead (e.g. when this consumer's partitions are revoked)."""
        self._kept.clear()
        self._size = 0


KEPT = KeptActivities()
"""This process's kept activities, whichever of its consumers applies a lead's batch (each
entry is checked against the locked row's version)."""
