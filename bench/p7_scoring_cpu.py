"""P7's scoring step alone: CPU per page view of `apply_batch`, no stack, no I/O.

    .venv/bin/python -m bench.p7_scoring_cpu [--leads 400] [--per-lead 125] [--batch 1000]
                                             [--reload]

The page views P7 sends (bench/p7_activities.py: each array of 1,000 spread over 400 leads,
seconds on page, one of 97 URLs), under the default model, applied in batches as scoring's
handler applies them: each batch's leads come with every activity stored before it, and
carry their scores over to the next batch. As the handler does, a lead's activities and
their engagement tally (and fit) are kept from one batch to the next (`scoring.leads.kept`) and the
tally moved to the batch's time; with `--reload`, every batch loads and tallies each lead's
whole history again (what a lead another writer changed costs). Only that step and
`apply_batch` are timed (process CPU), so a change of the rules' cost shows without the noise
of a busy machine's database and broker. Prints µs of CPU per activity.
"""

import argparse
import gc
import time
import uuid
from datetime import UTC, datetime, timedelta

from leadloop.events.models import Consent, LeadProfile
from scoring.leads.batch import ActivitySeen, Judged, LeadInput, LeadState, apply_batch
from scoring.leads.kept import YOUNG_GENERATION
from scoring.models.templates import DEFAULT_MODEL_CONFIG, DEFAULT_MODEL_VERSION
from scoring.rules.activities import Activity
from scoring.rules.domain import ScoringModel, StoredLead
from scoring.rules.engagement import EngagementTally

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _leads(count: int) -> list[StoredLead]:
    """Leads like P7's: a business email, an engineer at a 50-person company (grade B)."""
    return [StoredLead(lead_id=uuid.UUID(int=n + 1), profile=LeadProfile(
        email=f"p7.{n}@activity-bench-{n % 50}.com", company="Bench", job_title="Engineer",
        company_size=50), consent=Consent(), profile_at=START, profile_event_id=f"created-{n}")
        for n in range(count)]


def _page_view(n: int, lead_id: uuid.UUID, at: datetime) -> ActivitySeen:
    return ActivitySeen(lead_id, Activity(
        activity_id=uuid.UUID(int=10**9 + n), kind="page_view", occurred_at=at,
        url=f"https://www.example.com/docs/page-{n % 97}", event_id=f"event-{n}",
        seconds=float(n % 300)))


def run(leads: int, per_lead: int, batch: int, reload: bool = False) -> float:
    """CPU µs of `apply_batch` per activity over the whole sequence."""
    model = ScoringModel(DEFAULT_MODEL_VERSION, DEFAULT_MODEL_CONFIG)
    stored = {lead.lead_id: lead for lead in _leads(leads)}
    ids = list(stored)
    history: dict[uuid.UUID, list[Activity]] = {lead_id: [] for lead_id in ids}
    kept: dict[uuid.UUID, tuple[EngagementTally | None, Judged | None]] = {}
    total, cpu = leads * per_lead, 0.0
    for start in range(0, total, batch):
        now = START + timedelta(seconds=start / 2_500)  # P7 offers 2,500 a second
        inputs: list[LeadInput] = [
            _page_view(n, ids[n % leads], now - timedelta(milliseconds=(start + batch - n) / 3))
            for n in range(start, min(total, start + batch))]
        touched = {seen.lead_id for seen in inputs}
        new = {seen.activity.activity_id for seen in inputs if isinstance(seen, ActivitySeen)}
        began = time.process_time()
        states = {}
        for lead_id in touched:
            tally, judged = (None, None) if reload else kept.get(lead_id, (None, None))
            states[lead_id] = LeadState(stored[lead_id], {}, history[lead_id], engagement=(
                tally if tally is not None and tally.advance(now) else None), judged=judged)
        apply_batch(inputs, states, new, model, None, now)
        cpu += time.process_time() - began
        for lead_id, state in states.items():
            stored[lead_id] = state.lead
            kept[lead_id] = state.engagement, state.judged
        # apply_batch appended the batch's activities to each lead's list (`history`), as the
        # handler's kept lists grow.
    return cpu / total * 1e6


def main() -> None:
    gc.set_threshold(YOUNG_GENERATION, *gc.get_threshold()[1:])  # as scoring's process runs
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=400)
    parser.add_argument("--per-lead", type=int, default=125)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is printed")
    parser.add_argument("--reload", action="store_true",
                        help="every batch loads and tallies each lead's history again")
    args = parser.parse_args()
    best = min(run(args.leads, args.per_lead, args.batch, args.reload)
               for _ in range(args.repeat))
    print(f"apply_batch: {best:.1f} µs CPU per activity "
          f"({args.leads} leads x {args.per_lead} page views, batches of {args.batch}"
          f"{', history reloaded each batch' if args.reload else ', kept between batches'})")


if __name__ == "__main__":
    main()
