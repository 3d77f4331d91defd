"""What `leadloop demo` does, decided up front from a seed: campaigns of different quality,
leads of different fit, reps of different speed, and how each lead's story ends. Pure, no I/O.
"""

import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["hot", "warm", "cold", "junk"]
Speed = Literal["now", "later", "never"]


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign: where its leads come from, how good they are, how often they buy."""

    name: str
    utm_source: str
    utm_medium: str
    share: float  # of all leads
    mix: dict[Kind, float]
    win_chance: float
    deal_size_eur: tuple[int, int]
    repeat_chance: float = 0.0  # of its won customers, how many buy again within the month


CAMPAIGNS = (
    Campaign("q4-launch", "linkedin", "paid-social", 0.25,
             {"hot": 0.35, "warm": 0.25, "cold": 0.3, "junk": 0.1}, 0.50, (8_000, 40_000), 0.25),
    Campaign("webinar-series", "newsletter", "email", 0.2,
             {"hot": 0.2, "warm": 0.45, "cold": 0.25, "junk": 0.1}, 0.45, (5_000, 25_000), 0.35),
    Campaign("brand-search", "google", "cpc", 0.25,
             {"hot": 0.15, "warm": 0.15, "cold": 0.4, "junk": 0.3}, 0.40, (4_000, 20_000), 0.20),
    Campaign("ebook-giveaway", "facebook", "paid-social", 0.2,
             {"hot": 0.05, "warm": 0.15, "cold": 0.3, "junk": 0.5}, 0.15, (2_000, 8_000), 0.10),
    Campaign("partner-referral", "partner", "referral", 0.1,
             {"hot": 0.4, "warm": 0.1, "cold": 0.4, "junk": 0.1}, 0.60, (10_000, 60_000), 0.45),
)
DEMO_DAYS = 30
"""The demo plays a month: its `minutes` of real time stand for this many days."""


@dataclass(frozen=True, slots=True)
class RepProfile:
    """A demo rep and how long after a handoff they first call the lead: a range of real
    seconds (the demo waits that long; handoff stamps the times), or None: never calls."""

    name: str
    email: str
    answers_after_s: tuple[float, float] | None

    @property
    def speed(self) -> Speed:
        """How fast this rep calls back (see `speed_of`)."""
        return speed_of(self.answers_after_s)


def speed_of(answers_after_s: tuple[float, float] | None) -> Speed:
    """'now' within five minutes (the fastest response bucket), else 'later' or 'never'."""
    if answers_after_s is None:
        return "never"
    return "now" if answers_after_s[1] < 300 else "later"


# One rep per response-time bucket below a day: each bucket fills as far as the run is long.
REPS = (
    RepProfile("Ann Fast", "ann.fast@demo.leadloop.dev", (10, 240)),            # < 5 min
    RepProfile("Bob Quick", "bob.quick@demo.leadloop.dev", (360, 1500)),        # 5-30 min
    RepProfile("Cleo Steady", "cleo.steady@demo.leadloop.dev", (1860, 3300)),   # 30-60 min
    RepProfile("Dan Slow", "dan.slow@demo.leadloop.dev", (3900, 6 * 3600)),     # 1-24 h
    RepProfile("Eve Busy", "eve.busy@demo.leadloop.dev", None),                 # never
)

TITLES: dict[Kind, list[str | None]] = {
    "hot": ["VP Marketing", "Head of Sales", "CTO", "Director of Operations", "Founder"],
    "warm": ["Director of IT", "Head of Growth", "VP Engineering"],
    "cold": ["Marketing Manager", "Analyst", "Engineer", None],
    "junk": [None],
}
REJECTION_REASONS = ["not_a_fit", "no_budget", "bad_timing", "duplicate", "spam", "other"]
LOST_REASONS = ["price", "competitor", "no decision", "timing"]


@dataclass(slots=True)
class PlannedLead:
    """One demo lead: the form post, its later touches, and how sales will treat it."""

    index: int
    campaign: Campaign
    kind: Kind
    body: dict[str, Any]
    touches: list[dict[str, Any]] = field(default_factory=list)
    lead_id: str | None = None
    assignment_id: str | None = None
    rep_speed: Speed | None = None
    decision: "SalesDecision | None" = None
    repeat: "RepeatPurchase | None" = None  # a won customer's second purchase, if any


def _pick(rng: random.Random, weights: dict[Any, float]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def plan_leads(count: int, seed: int, run_tag: str | None = None) -> list[PlannedLead]:
    """`count` leads: campaign by share, fit by the campaign's mix, touches by engagement."""
    rng = random.Random(seed)
    tag = run_tag or uuid.uuid4().hex[:6]
    shares = [c.share for c in CAMPAIGNS]
    leads = []
    for i in range(count):
        campaign = rng.choices(CAMPAIGNS, weights=shares)[0]
        kind: Kind = _pick(rng, campaign.mix)
        company = f"company{i}-{tag}"
        domain = "gmail.com" if kind == "junk" else f"{company}.example.com"
        body: dict[str, Any] = {
            "email": f"lead{i}.{tag}@{domain}", "first_name": f"Lead{i}",
            "company": company, "job_title": rng.choice(TITLES[kind]),
            # Warm leads fit (grade B) but need engagement to score an MQL; hot ones do at once.
            "company_size": rng.choice([200, 500, 1200]) if kind == "hot"
            else rng.choice([5, 20, 40]),
            "country": rng.choice(["DE", "FR", "GB", "US", "NL"]),
            "source": {"channel": "form", "campaign": campaign.name,
                       "utm_source": campaign.utm_source, "utm_medium": campaign.utm_medium,
                       "utm_campaign": campaign.name},
            "consent": {"email_marketing": True, "text": "Send me news", "version": "demo"},
        }
        if kind == "hot":
            body["phone"] = "+49 30 1234567"
        body = {k: v for k, v in body.items() if v is not None}
        lead = PlannedLead(i, campaign, kind, body)
        # Engagement: warm leads come back through other campaigns, which qualifies them.
        touches = {"hot": rng.choice([0, 0, 1]), "warm": rng.choice([1, 2]),
                   "cold": rng.choice([0, 0, 1]), "junk": 0}[kind]
        for _ in range(touches):
            other = rng.choices(CAMPAIGNS, weights=shares)[0]
            lead.touches.append({"kind": "form_submitted", "source": {
                "channel": "form", "campaign": other.name, "utm_source": other.utm_source,
                "utm_medium": other.utm_medium, "utm_campaign": other.name}})
        leads.append(lead)
    return leads


@dataclass(frozen=True, slots=True)
class SalesDecision:
    """What sales does with one handed-off lead."""

    reject_reason: str | None
    opens_deal: bool
    outcome: Literal["won", "lost"] | None
    amount_minor: int
    lost_reason: str | None


DEAL_BY_KIND: dict[Kind, float] = {"hot": 0.85, "warm": 0.65, "cold": 0.4, "junk": 0.1}
"""Of the leads a rep calls and keeps, how many become a deal: better fits more often."""
WIN_BY_KIND: dict[Kind, float] = {"hot": 1.2, "warm": 0.9, "cold": 0.6, "junk": 0.2}
WIN_BY_SPEED: dict[Speed, float] = {"now": 1.3, "later": 0.85, "never": 0.0}
"""A rep who calls at once wins more often than one who calls back later."""


def decide_sales(lead: PlannedLead, rng: random.Random) -> SalesDecision:
    """Reject some leads (more of the weaker kinds); the rest may become deals (more of the
    better fits), won more often from good campaigns, good fits and when the rep answered at
    once; a few deals are still open when the run ends."""
    reject_chance = {"hot": 0.08, "warm": 0.2, "cold": 0.5, "junk": 0.8}[lead.kind]
    if rng.random() < reject_chance:
        return SalesDecision(rng.choice(REJECTION_REASONS), False, None, 0, None)
    if lead.rep_speed == "never" or rng.random() >= DEAL_BY_KIND[lead.kind]:
        return SalesDecision(None, False, None, 0, None)
    low, high = lead.campaign.deal_size_eur
    amount = rng.randrange(low, high) * 100
    won = rng.random() < (lead.campaign.win_chance * WIN_BY_KIND[lead.kind]
                          * WIN_BY_SPEED[lead.rep_speed or "never"])
    if rng.random() < 0.1:
        return SalesDecision(None, True, None, amount, None)  # still open at the end
    return SalesDecision(None, True, "won" if won else "lost", amount,
                         None if won else rng.choice(LOST_REASONS))


@dataclass(frozen=True, slots=True)
class RepeatPurchase:
    """A won customer's second purchase: a new deal, some days after the first."""

    after_days: float
    amount_minor: int


REPEAT_AFTER_DAYS = (2.0, 10.0)
"""A repeat purchase comes this many demo days after the first: late enough to be a new
purchase, early enough that one closed up to day 18 (the last leads, the slowest rep, the
longest sales cycle: see DemoClock) still lands in the month."""
REPEAT_BY_KIND: dict[Kind, float] = {"hot": 1.3, "warm": 1.0, "cold": 0.6, "junk": 0.2}
"""Better-fitting customers buy again more often."""


def decide_repeat(lead: PlannedLead, rng: random.Random) -> RepeatPurchase | None:
    """Whether a won customer buys again within the month (more often from good campaigns and
    good fits), how many demo days after the first purchase (REPEAT_AFTER_DAYS), and for how
    much (an add-on: a quarter to a half of the campaign's deal sizes)."""
    if rng.random() >= min(lead.campaign.repeat_chance * REPEAT_BY_KIND[lead.kind], 0.9):
        return None
    low, high = lead.campaign.deal_size_eur
    return RepeatPurchase(after_days=rng.uniform(*REPEAT_AFTER_DAYS),
                          amount_minor=rng.randrange(low // 4, high // 2) * 100)


CALL_WINDOW_SHARE = 0.15
"""Of the run, within which even the slowest rep's first call comes when the demo fits the
reps' speeds to the run (`DemoClock.rep_scale`)."""
CLOSE_AFTER_DAYS = (0.5, 3.0)
"""A deal closes this many demo days after the call that opened it."""
SLOWEST_CALL_S = max(rep.answers_after_s[1] for rep in REPS if rep.answers_after_s)


@dataclass(frozen=True, slots=True)
class DemoClock:
    """How the demo's month maps onto its run: `run_s` real seconds stand for DEMO_DAYS days.

    Leads arrive over the first `stream_share` of the run. The reps keep their order and
    their response buckets relative to each other, but with `fit_reps` every first-call delay
    shrinks by one factor so that the slowest rep's calls come within CALL_WINDOW_SHARE of the
    run (Dan's six hours become 45 s of a 5-minute run, 6 minutes of a 40-minute one); without
    it they take their real time (a test shows real response buckets). Deals close and
    customers buy again in demo days. So a lead posted last, called by the slowest rep, whose
    deal takes the longest, closes by day 10 + 4.5 + 3 and buys again by day 28 of 30.
    """

    run_s: float
    stream_share: float = 1 / 3
    fit_reps: bool = True

    @property
    def day_s(self) -> float:
        """Real seconds per demo day."""
        return self.run_s / DEMO_DAYS

    @property
    def rep_scale(self) -> float:
        """The factor every rep's first-call delay is multiplied by (1: real time)."""
        if not self.fit_reps:
            return 1.0
        return min(1.0, self.run_s * CALL_WINDOW_SHARE / SLOWEST_CALL_S)

    def posted_at_s(self, index: int, count: int) -> float:
        """When lead `index` of `count` is posted, in seconds from the start."""
        return index * self.run_s * self.stream_share / max(count, 1)

    def call_after_s(self, answers_after_s: tuple[float, float], rng: random.Random) -> float:
        """A rep's first call, in real seconds after the handoff."""
        low, high = answers_after_s
        return rng.uniform(low, high) * self.rep_scale

    def close_after_s(self, rng: random.Random) -> float:
        """A deal's close, in real seconds after the call that opened it."""
        return rng.uniform(*CLOSE_AFTER_DAYS) * self.day_s

    def repeat_after_s(self, repeat: RepeatPurchase) -> float:
        """A customer's second purchase, in real seconds after the first."""
        return repeat.after_days * self.day_s
