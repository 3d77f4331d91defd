"""Generated lead stories for outcomes' tests, their events, and the reports computed directly.

A story is what happened to one lead, written down plainly. The tests turn stories into events
(to feed the read model) or into read-model rows (to feed the report functions), and compare
what comes out with the numbers computed here straight from the stories, by other means
(numpy percentiles, bisect buckets, plain loops), so a shared mistake cannot hide.
"""

import bisect
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from leadloop.events.models import (
    DealClosed,
    DealOpened,
    EventData,
    LeadAccepted,
    LeadActivity,
    LeadContacted,
    LeadCreated,
    LeadHandedOff,
    LeadProfile,
    LeadQualified,
    LeadRejected,
    LeadScored,
    LeadSource,
    LeadUpdated,
    RejectionReason,
    RepRef,
)
from outcomes.reports.domain import LeadFacts

MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
REPS = [RepRef(id=uuid.UUID(int=i + 1), name=name, email=f"{name.lower()}@sales.example")
        for i, name in enumerate(["Ann", "Bob", "Cleo"])]
# campaign -> (utm_source, MQL chance, win chance of an opportunity)
CAMPAIGNS = {"q4-launch": ("linkedin", 0.6, 0.5), "webinar": ("newsletter", 0.4, 0.35),
             "brand": ("google", 0.25, 0.2), None: (None, 0.1, 0.1)}
STAGE_NAMES = ["lead", "mql", "handed_off", "accepted", "opportunity", "won", "lost"]
STEPS = [("lead", "mql"), ("mql", "handed_off"), ("handed_off", "accepted"),
         ("accepted", "opportunity"), ("opportunity", "won"), ("opportunity", "lost")]


@dataclass
class Story:
    """What happened to one lead."""

    lead_id: uuid.UUID
    created_at: datetime
    campaign: str | None
    utm_source: str | None
    score: int
    mql_at: datetime | None = None
    handed_off_at: datetime | None = None
    rep: RepRef | None = None
    contacted_at: datetime | None = None
    accepted_at: datetime | None = None
    rejected_at: datetime | None = None
    rejection_reason: str | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: str | None = None
    amount_minor: int = 0
    # (time, campaign, utm_source) of touches after the creating form post
    touches: list[tuple[datetime, str | None, str | None]] = field(default_factory=list)
    # Market attributes: where the lead is and what company it is from.
    country: str | None = None
    region: str | None = None
    company_size: int | None = None
    industry: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    # When set, the lead was created in this industry and a lead.updated moved it to `industry`.
    created_industry: str | None = None
    # The creating form post's other UTM fields (all None for a lead without a UTM source).
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None

    def at(self, stage: str) -> datetime | None:
        """When the story reached a stage."""
        return {"lead": self.created_at, "mql": self.mql_at, "handed_off": self.handed_off_at,
                "accepted": self.accepted_at, "opportunity": self.opened_at,
                "won": self.closed_at if self.outcome == "won" else None,
                "lost": self.closed_at if self.outcome == "lost" else None}[stage]


COUNTRIES = {"DE": ["Bavaria", "Berlin"], "US": ["California", "Texas", None], "FR": [None],
             "GB": ["Scotland"], None: [None]}
INDUSTRIES = ["software", "retail", "manufacturing", None]
PLANS = ["free", "pro", "enterprise", None]


def add_market(story: Story) -> None:
    """Give a story market attributes, from its own random stream (seeded by the lead id) so the
    stories' other draws stay what they were."""
    rng = random.Random(story.lead_id.int)
    story.country = rng.choice(list(COUNTRIES))
    story.region = rng.choice(COUNTRIES[story.country])
    if rng.random() < 0.02:  # a tiny market, where a few leads must not be over-read
        story.country, story.region = "IS", "Reykjavik"
    story.company_size = rng.choice([None, 3, 10, 11, 50, 51, 180, 200, 201, 750, 1000, 1001,
                                     4000, 5001, 20_000])
    story.industry = rng.choice(INDUSTRIES)
    plan = rng.choice(PLANS)
    story.properties = {"employees_known": story.company_size is not None, "seats": rng.choice(
        [1, 5, 25])}
    if plan is not None:
        story.properties["plan"] = plan
    if rng.random() < 0.15:
        story.created_industry = rng.choice([i for i in INDUSTRIES if i != story.industry])


# utm_source -> the media its links use; the ad's UTM campaign is the campaign's name with a
# variant, so grouping by utm_campaign is not grouping by campaign.
MEDIA = {"linkedin": ["paid-social", "organic-social"], "newsletter": ["email"],
         "google": ["cpc", "display", "cpc"]}
TERMS = ["crm software", "lead routing", "sales pipeline", None]
CONTENTS = ["banner-a", "banner-b", "text-link", None]


def add_utm(story: Story) -> None:
    """Give a story's creating form post its UTM medium, campaign, term and content, from its
    own random stream so the stories' other draws stay what they were."""
    if story.utm_source is None:
        return
    rng = random.Random(f"utm-{story.lead_id}")
    story.utm_medium = rng.choice(MEDIA[story.utm_source])
    story.utm_campaign = f"{story.campaign}-{rng.choice(['v1', 'v2'])}"
    story.utm_term = rng.choice(TERMS)
    story.utm_content = rng.choice(CONTENTS)


def generate_stories(count: int, seed: int = 7) -> list[Story]:
    """`count` leads over a month from campaigns of different quality, reps of different speed."""
    rng = random.Random(seed)
    stories = []
    for i in range(count):
        campaign = rng.choice(list(CAMPAIGNS))
        utm_source, mql_chance, win_chance = CAMPAIGNS[campaign]
        created = MONTH_START + timedelta(seconds=rng.randrange(30 * 86400))
        story = Story(uuid.UUID(int=10_000 + i), created, campaign, utm_source,
                      score=rng.randrange(-10, 40))
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            other = rng.choice(list(CAMPAIGNS))
            story.touches.append((created + timedelta(minutes=rng.randrange(1, 20_000)),
                                  other, CAMPAIGNS[other][0]))
        add_market(story)
        add_utm(story)
        stories.append(story)
        if rng.random() > mql_chance:
            continue
        story.score = rng.randrange(40, 120)
        # Squared: most leads qualify within a day, some within minutes (every bucket of the
        # created -> handoff histogram gets leads), a few take two days.
        story.mql_at = created + timedelta(minutes=rng.randrange(0, 3000) ** 2 / 3000)
        if rng.random() < 0.1:
            continue  # qualified, never handed off
        story.handed_off_at = story.mql_at + timedelta(seconds=rng.randrange(0, 600))
        rep_index = rng.randrange(len(REPS))
        story.rep = REPS[rep_index]
        if rng.random() < 0.85:
            # Ann answers in minutes, Bob in hours, Cleo in days.
            scale = [240, 7200, 120_000][rep_index]
            story.contacted_at = story.handed_off_at + timedelta(
                seconds=int(rng.expovariate(1 / scale)))
        if rng.random() < 0.2:
            story.rejected_at = story.handed_off_at + timedelta(minutes=rng.randrange(1, 600))
            story.rejection_reason = rng.choice(list(RejectionReason)).value
            continue
        if rng.random() < 0.2:
            continue  # never accepted
        story.accepted_at = story.handed_off_at + timedelta(minutes=rng.randrange(1, 300))
        if rng.random() < 0.4:
            continue
        story.opened_at = story.accepted_at + timedelta(hours=rng.randrange(1, 200))
        story.amount_minor = rng.randrange(1, 500) * 10_000
        if rng.random() < 0.3:
            continue  # still open
        fast = story.contacted_at is not None and story.contacted_at - story.handed_off_at \
            < timedelta(minutes=5)
        won = rng.random() < win_chance * (1.5 if fast else 0.8)
        story.outcome = "won" if won else "lost"
        story.closed_at = story.opened_at + timedelta(hours=rng.randrange(1, 300))
    return stories


def story_facts(story: Story) -> LeadFacts:
    """The read-model row a story should produce."""
    return LeadFacts(
        lead_id=story.lead_id, lead_at=story.created_at, mql_at=story.mql_at,
        handed_off_at=story.handed_off_at, accepted_at=story.accepted_at,
        opportunity_at=story.opened_at, won_at=story.at("won"), lost_at=story.at("lost"),
        first_contacted_at=story.contacted_at, rejected_at=story.rejected_at,
        rejection_reason=story.rejection_reason, channel="form", campaign=story.campaign,
        utm_source=story.utm_source, utm_medium=story.utm_medium,
        utm_campaign=story.utm_campaign, utm_term=story.utm_term,
        utm_content=story.utm_content, rep_name=story.rep.name if story.rep else None,
        score=story.score, country=story.country, region=story.region,
        company_size_band=expected_size_band(story.company_size), industry=story.industry,
    )


def expected_size_band(size: int | None) -> str | None:
    """Company-size band by table lookup rather than the service's comparisons."""
    if size is None:
        return None
    bands = {range(0, 11): "1-10", range(11, 51): "11-50", range(51, 201): "51-200",
             range(201, 501): "201-500", range(501, 1001): "501-1000",
             range(1001, 5001): "1001-5000"}
    return next((name for span, name in bands.items() if size in span), "5001+")


def story_events(story: Story) -> list[EventData]:
    """Every event the pipeline would publish for a story, including noise outcomes ignores
    or must see through: an earlier lower score, a first handoff to another rep, a page view."""
    lead = story.lead_id
    profile = LeadProfile(email=f"lead{lead.int}@example.com", country=story.country,
                          region=story.region, company_size=story.company_size,
                          industry=story.industry, properties=story.properties)
    created_profile = profile if story.created_industry is None else \
        profile.model_copy(update={"industry": story.created_industry})
    source = LeadSource(channel="form", campaign=story.campaign, utm_source=story.utm_source,
                        utm_medium=story.utm_medium, utm_campaign=story.utm_campaign,
                        utm_term=story.utm_term, utm_content=story.utm_content)
    assignment = uuid.uuid5(lead, "assignment")
    events: list[EventData] = [
        LeadCreated(lead_id=lead, profile=created_profile, source=source,
                    created_at=story.created_at),
        LeadScored(lead_id=lead, score=story.score - 5, fit_score=0, engagement_score=0,
                   grade="C", model_version=1, is_mql=False, scored_at=story.created_at),
        LeadActivity(lead_id=lead, activity_id=uuid.uuid5(lead, "view"), kind="page_view",
                     occurred_at=story.created_at + timedelta(seconds=1)),
    ]
    if story.created_industry is not None:
        events.append(LeadUpdated(lead_id=lead, profile=profile, changed_fields=["industry"],
                                  updated_at=story.created_at + timedelta(hours=1)))
    last_score_at = story.created_at + timedelta(seconds=2)
    for n, (at, campaign, utm_source) in enumerate(story.touches):
        events.append(LeadActivity(
            lead_id=lead, activity_id=uuid.uuid5(lead, f"touch{n}"), kind="form_submitted",
            occurred_at=at, source=LeadSource(channel="form", campaign=campaign,
                                              utm_source=utm_source)))
    if story.mql_at:
        last_score_at = story.mql_at
        events.append(LeadQualified(lead_id=lead, score=story.score, grade="A", model_version=1,
                                    profile=profile, source=source, qualified_at=story.mql_at))
    events.append(LeadScored(lead_id=lead, score=story.score, fit_score=0, engagement_score=0,
                             grade="A", model_version=1, is_mql=story.mql_at is not None,
                             scored_at=last_score_at))
    if story.handed_off_at and story.rep:
        # First to another rep, then reassigned: the funnel keeps the first handoff's time and
        # the last handoff's rep.
        for rep, at in ((REPS[(REPS.index(story.rep) + 1) % len(REPS)], story.handed_off_at),
                        (story.rep, story.handed_off_at + timedelta(seconds=1))):
            events.append(LeadHandedOff(
                lead_id=lead, assignment_id=assignment, rep=rep, routing_rule="rr",
                routing_reason="round robin", profile=profile, score=story.score, grade="A",
                source=source, qualified_at=story.mql_at or at, handed_off_at=at))
    rep_id = story.rep.id if story.rep else uuid.uuid4()
    if story.contacted_at:
        events.append(LeadContacted(lead_id=lead, assignment_id=assignment, rep_id=rep_id,
                                    contacted_at=story.contacted_at))
    if story.rejected_at:
        events.append(LeadRejected(lead_id=lead, assignment_id=assignment, rep_id=rep_id,
                                   reason_code=RejectionReason(story.rejection_reason),
                                   rejected_at=story.rejected_at))
    if story.accepted_at:
        events.append(LeadAccepted(lead_id=lead, assignment_id=assignment, rep_id=rep_id,
                                   accepted_at=story.accepted_at))
    deal = uuid.uuid5(lead, "deal")
    if story.opened_at:
        events.append(DealOpened(lead_id=lead, deal_id=deal, external_id=f"crm-{lead}",
                                 amount_minor=story.amount_minor, currency="EUR",
                                 opened_at=story.opened_at))
    if story.closed_at and story.outcome:
        events.append(DealClosed(lead_id=lead, deal_id=deal, external_id=f"crm-{lead}",
                                 outcome=story.outcome,  # type: ignore[arg-type]
                                 amount_minor=story.amount_minor, currency="EUR",
                                 closed_at=story.closed_at))
    return events


# --- the reports, computed straight from the stories ---------------------------------------


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else max(0.0, (end - start).total_seconds())


def _median_p90(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    median, p90 = np.percentile(np.array(values), [50, 90])
    return float(median), float(p90)


def expected_funnel(stories: Sequence[Story],
                    key: Callable[[Story], str]) -> dict[str, dict[str, Any]]:
    """Per group: counts per stage, and per step (from, to): rate, count, median, p90."""
    groups: dict[str, list[Story]] = defaultdict(list)
    for story in stories:
        groups[key(story)].append(story)
    result = {}
    for name, members in groups.items():
        counts = {s: len([m for m in members if m.at(s) is not None]) for s in STAGE_NAMES}
        steps = {}
        for a, b in STEPS:
            times = [t for m in members if (t := _seconds(m.at(a), m.at(b))) is not None]
            steps[(a, b)] = (round(len(times) / counts[a], 4) if counts[a] else None,
                             len(times), *_median_p90(times))
        result[name] = {"counts": counts, "steps": steps}
    return result


BUCKET_EDGES = [300, 1800, 3600, 86400]
BUCKET_NAMES = ["< 5 min", "5-30 min", "30-60 min", "1-24 h", "> 24 h"]


def _contacted_at(story: Story) -> datetime | None:
    return story.contacted_at


def _created_at(story: Story) -> datetime | None:
    return story.created_at


def _handed_off_at(story: Story) -> datetime | None:
    return story.handed_off_at


def expected_histogram(stories: Sequence[Story], start: Callable[[Story], datetime | None],
                       end: Callable[[Story], datetime | None]) -> dict[str, tuple[int, int]]:
    """Response-time bucket of end - start -> (leads, won leads)."""
    leads: Counter[str] = Counter()
    won: Counter[str] = Counter()
    for story in stories:
        seconds = _seconds(start(story), end(story))
        if seconds is None:
            continue
        bucket = BUCKET_NAMES[bisect.bisect_right(BUCKET_EDGES, seconds)]
        leads[bucket] += 1
        won[bucket] += story.outcome == "won"
    return {name: (leads[name], won[name]) for name in BUCKET_NAMES}


def expected_win_rate_by_response(stories: Sequence[Story]) -> dict[str, tuple[int, int]]:
    """Handoff-to-first-contact bucket -> (contacted leads, won leads)."""
    return expected_histogram(stories, _handed_off_at, _contacted_at)


def expected_speed(stories: Sequence[Story]) -> dict[str, Any]:
    """Speed to lead straight from the stories: both histograms, count / median / p90 of both
    durations (numpy), and the handed-off leads never contacted."""
    to_handoff = [t for s in stories if (t := _seconds(s.created_at, s.handed_off_at)) is not None]
    to_contact = [t for s in stories
                  if (t := _seconds(s.handed_off_at, s.contacted_at)) is not None]
    return {
        "to_handoff_histogram": expected_histogram(stories, _created_at, _handed_off_at),
        "to_first_contact_histogram": expected_win_rate_by_response(stories),
        "to_handoff": (len(to_handoff), *_median_p90(to_handoff)),
        "to_first_contact": (len(to_contact), *_median_p90(to_contact)),
        "never_contacted": sum(1 for s in stories if s.handed_off_at and not s.contacted_at),
    }


def expected_period(at: datetime, period: str) -> str:
    """The period a time falls in, by calendar functions rather than date arithmetic: the day,
    the Monday of its ISO week, the first of its month."""
    if period == "day":
        return f"{at:%Y-%m-%d}"
    if period == "week":
        year, week, _ = at.isocalendar()
        return date.fromisocalendar(year, week, 1).isoformat()
    return f"{at:%Y-%m}-01"


def expected_band(score: int) -> str:
    """Score band by lookup rather than arithmetic."""
    if score < 0:
        return "< 0"
    for low in range(0, 100, 20):
        if low <= score <= low + 19:
            return f"{low}-{low + 19}"
    return "100+"


def expected_calibration(stories: Sequence[Story],
                         key: Callable[[Story], str]) -> dict[str, tuple[int, int, int]]:
    """Group -> (leads, opportunities, won)."""
    table: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for story in stories:
        row = table[key(story)]
        row[0] += 1
        row[1] += story.opened_at is not None
        row[2] += story.outcome == "won"
    return {k: (v[0], v[1], v[2]) for k, v in table.items()}


def expected_rejections(stories: Sequence[Story]) -> dict[tuple[str, str], int]:
    """(source, reason) -> rejected leads."""
    return dict(Counter((s.utm_source or "form", s.rejection_reason or "")
                        for s in stories if s.rejected_at))


def expected_rejections_by_period(stories: Sequence[Story],
                                  period: str) -> dict[tuple[str, str], int]:
    """(period of rejection, reason) -> rejected leads."""
    return dict(Counter((expected_period(s.rejected_at, period), s.rejection_reason or "")
                        for s in stories if s.rejected_at))


def expected_property(story: Story, name: str) -> str:
    """A story's market under property:<name>, written as JSON text would show the value."""
    value = story.properties.get(name)
    if value is None:
        return "(none)"
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


MARKET_KEYS: dict[str, Callable[[Story], str]] = {
    "country": lambda s: s.country or "(none)",
    "region": lambda s: f"{s.country or '(none)'}/{s.region}" if s.region else "(none)",
    "company_size": lambda s: expected_size_band(s.company_size) or "(none)",
    "industry": lambda s: s.industry or "(none)",
    "source": lambda s: s.utm_source or "form",
    "property:plan": lambda s: expected_property(s, "plan"),
    "property:seats": lambda s: expected_property(s, "seats"),
    "property:employees_known": lambda s: expected_property(s, "employees_known"),
}


def expected_markets(stories: Sequence[Story], key: Callable[[Story], str],
                     stage: str = "won") -> dict[str, dict[str, Any]]:
    """Per market: n, leads that reached `stage`, wins, revenue, the 95% Wilson interval (from
    scipy) and median / p90 handoff-to-first-contact (numpy)."""
    from scipy.stats import binomtest

    groups: dict[str, list[Story]] = defaultdict(list)
    for story in stories:
        groups[key(story)].append(story)
    result = {}
    for name, members in groups.items():
        reached = sum(1 for m in members if m.at(stage) is not None)
        interval = binomtest(reached, len(members)).proportion_ci(method="wilson")
        won = [m for m in members if m.outcome == "won"]
        contact = [t for m in members
                   if (t := _seconds(m.handed_off_at, m.contacted_at)) is not None]
        result[name] = {
            "leads": len(members), "reached": reached, "won": len(won),
            "revenue_eur": sum(m.amount_minor for m in won),
            "ci": (interval.low, interval.high),
            "to_first_contact": _median_p90(contact),
        }
    return result
