"""What an expansion model learns from: repeat deals. No I/O.

Each won deal (a purchase) is one example about its customer: did the customer win another
deal within the model's `repeat_window_days`? The features are the customer's profile and what
it did after that purchase: up to the next won deal when it came within the window (a repeat:
positive), over the whole window when none did (negative). A purchase whose window has not
ended and that has no repeat yet is left out: its label is not known.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from scoring.learning.domain import Example, raw_features
from scoring.rules.activities import Activity
from scoring.rules.domain import ScoringModel, score_lead
from scoring.rules.lead_fields import LeadFields


@dataclass(frozen=True, slots=True)
class Purchase:
    """A won deal of a lead, with the lead's fields."""

    lead_id: UUID
    closed_at: datetime
    fields: LeadFields


def repeat_examples(model: ScoringModel, purchases: Iterable[Purchase],
                    activities: Mapping[UUID, Sequence[Activity]], now: datetime,
                    closed_from: datetime | None = None, closed_to: datetime | None = None,
                    ) -> list[Example]:
    """One example per purchase closed in [closed_from, closed_to) (default: all) whose label
    is known at `now` (see the module docstring); every purchase can be the repeat."""
    learning = model.config.learning
    assert learning is not None  # the caller checked the version learns
    window = timedelta(days=model.config.repeat_window_days)
    by_lead: dict[UUID, list[Purchase]] = defaultdict(list)
    for purchase in purchases:
        by_lead[purchase.lead_id].append(purchase)
    examples = []
    for lead_id, bought in by_lead.items():
        bought.sort(key=lambda p: p.closed_at)
        for index, purchase in enumerate(bought):
            if (closed_from is not None and purchase.closed_at < closed_from) or \
                    (closed_to is not None and purchase.closed_at >= closed_to):
                continue
            following = bought[index + 1].closed_at if index + 1 < len(bought) else None
            if following is not None and following - purchase.closed_at <= window:
                repeated, at = True, following
            elif now - purchase.closed_at >= window:
                repeated, at = False, purchase.closed_at + window
            else:
                continue  # the window is still open: not known yet
            after = [a for a in activities.get(lead_id, [])
                     if purchase.closed_at < a.occurred_at <= at]
            fields = purchase.fields
            rules = score_lead(model, fields.profile, after, at, consent=fields.consent,
                               source=fields.source).score
            examples.append(Example(
                lead_id=lead_id, won=repeated, rules_score=rules,
                raw=raw_features(learning, fields, after, at, model.config.decay.window_days),
                outcome="repeat" if repeated else "no_repeat"))
    return examples
