"""Generated leads and outcomes of three kinds of business, for scoring's tests and benches.

Each kind has its own people, sources and behaviour, and its own hidden reasons to buy:

- `b2b_software`: business emails, senior titles and company size matter, with pricing views,
  demo requests and time on site; buyers come from LinkedIn and search more than social.
- `consumer_subscription`: free-mail addresses only; time on site (saturating), visits,
  recency, consent to email marketing and the paid-search source decide.
- `education`: many students (who buy here), open-day webinars attended, brochures
  downloaded, video watched (`video_seconds`), consent, and referrals decide.

Every lead closes: won, lost (an opportunity that failed) or closed not converted. The ground
truth is a logistic function of the drivers, so a model can only approach it; `truth` keeps
each lead's true probability. Deterministic for a seed.
"""

import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from leadloop.events.models import Consent, LeadProfile, LeadSource
from scoring.rules.activities import Activity

Business = Literal["b2b_software", "consumer_subscription", "education"]
BUSINESSES: tuple[Business, ...] = ("b2b_software", "consumer_subscription", "education")


@dataclass(slots=True)
class GeneratedLead:
    """A lead as capture would send it, what it did, and how it ended."""

    lead_id: uuid.UUID
    profile: LeadProfile
    consent: Consent
    source: LeadSource
    created_at: datetime
    activities: list[Activity] = field(default_factory=list)
    outcome: str = "not_converted"  # won, lost or not_converted
    closed_at: datetime | None = None
    truth: float = 0.0  # the true win probability the outcome was drawn with


@dataclass(slots=True)
class _Person:
    """Hidden traits behaviour and buying both follow."""

    interest: float  # 0..1
    drivers: float = 0.0  # log-odds the business adds from who and where the person is


def _activities(rng: random.Random, lead_id: uuid.UUID, start: datetime, interest: float,
                kinds: dict[str, float], pages: tuple[str, ...],
                extra: Callable[[str], dict[str, float] | None] | None = None,
                ) -> list[Activity]:
    """Visits of page views (with seconds on page) and other activities, more with interest."""
    out: list[Activity] = []
    at = start
    for _ in range(1 + int(rng.expovariate(1 / (1 + 6 * interest)))):
        at += timedelta(hours=rng.expovariate(1 / (24 + 200 * (1 - interest))))
        for _ in range(1 + int(rng.expovariate(1 / (1 + 4 * interest)))):  # one visit
            at += timedelta(minutes=rng.uniform(0.5, 6))
            seconds = float(int(rng.expovariate(1 / (20 + 180 * interest))))
            out.append(Activity(uuid.UUID(int=rng.getrandbits(128)), "page_view", at,
                                url=f"https://example.com{rng.choice(pages)}",
                                seconds=seconds, event_id=f"gen-{lead_id}-{len(out)}"))
        for kind, rate in kinds.items():
            if rng.random() < rate * (0.3 + interest):
                at += timedelta(minutes=rng.uniform(1, 30))
                out.append(Activity(uuid.UUID(int=rng.getrandbits(128)), kind, at,
                                    numbers=extra(kind) if extra else None,
                                    event_id=f"gen-{lead_id}-{len(out)}"))
    return out


def _time_on_site(activities: list[Activity]) -> float:
    return sum(a.seconds or 0.0 for a in activities)


def _count(activities: list[Activity], kind: str) -> int:
    return sum(1 for a in activities if a.kind == kind)


def _b2b(rng: random.Random, i: int) -> tuple[LeadProfile, Consent, LeadSource, float,
                                              dict[str, float], tuple[str, ...]]:
    size = int(rng.lognormvariate(4, 1.5))
    senior = rng.random() < 0.35
    business = rng.random() < 0.75
    source = rng.choices(("linkedin", "google", "facebook", "newsletter"), (3, 4, 2, 1))[0]
    profile = LeadProfile(
        email=f"lead{i}@{'acme' + str(i % 97) + '.com' if business else 'gmail.com'}",
        job_title=rng.choice(("VP Sales", "Head of Marketing", "CTO") if senior else
                             ("Engineer", "Analyst", "Student", "Consultant")),
        company_size=size, phone="+4930123456" if rng.random() < 0.5 else None,
        properties={"segment": "enterprise" if size > 500 else "smb"})
    drivers = (0.8 * business + 0.9 * senior + 0.35 * math.log1p(size) / 2
               + {"linkedin": 0.6, "google": 0.4, "facebook": -0.6, "newsletter": 0.0}[source])
    kinds = {"pricing_viewed": 0.3, "demo_requested": 0.12, "webinar_attended": 0.08,
             "form_submitted": 0.2, "email_clicked": 0.3}
    return (profile, Consent(email_marketing=rng.random() < 0.5, sales_contact=True),
            LeadSource(channel="form", utm_source=source), drivers, kinds,
            ("/", "/product", "/pricing", "/docs", "/blog"))


def _consumer(rng: random.Random, i: int) -> tuple[LeadProfile, Consent, LeadSource, float,
                                                   dict[str, float], tuple[str, ...]]:
    marketing = rng.random() < 0.45
    source = rng.choices(("google", "facebook", "instagram", "referral"), (4, 3, 2, 1))[0]
    profile = LeadProfile(email=f"person{i}@gmail.com", first_name=rng.choice(("Ann", None)),
                          phone="+14155550100" if rng.random() < 0.3 else None)
    drivers = 0.9 * marketing + {"google": 0.7, "facebook": -0.5, "instagram": -0.2,
                                 "referral": 0.5}[source]
    kinds = {"pricing_viewed": 0.25, "form_submitted": 0.15, "email_opened": 0.5,
             "email_clicked": 0.2}
    return (profile, Consent(email_marketing=marketing, sales_contact=rng.random() < 0.6),
            LeadSource(channel="form", utm_source=source), drivers, kinds,
            ("/", "/plans", "/pricing", "/faq", "/blog"))


def _education(rng: random.Random, i: int) -> tuple[LeadProfile, Consent, LeadSource, float,
                                                    dict[str, float], tuple[str, ...]]:
    student = rng.random() < 0.6
    marketing = rng.random() < 0.5
    source = rng.choices(("google", "instagram", "referral", "fair"), (4, 3, 2, 1))[0]
    profile = LeadProfile(
        email=f"learner{i}@{rng.choice(('gmail.com', 'outlook.com', 'school.edu'))}",
        job_title="Student" if student else rng.choice(("Parent", "Teacher", None)),
        country=rng.choice(("IN", "DE", "US", "NG")),
        properties={"program": rng.choice(("mba", "data", "design"))})
    drivers = 0.6 * student + 0.7 * marketing + {"google": 0.2, "instagram": -0.4,
                                                 "referral": 0.9, "fair": 0.5}[source]
    kinds = {"webinar_registered": 0.35, "webinar_attended": 0.25, "content_downloaded": 0.3,
             "form_submitted": 0.15, "email_clicked": 0.2}
    return (profile, Consent(email_marketing=marketing, sales_contact=rng.random() < 0.7),
            LeadSource(channel="form", utm_source=source), drivers, kinds,
            ("/", "/programs", "/fees", "/campus", "/apply"))


def _behaviour_log_odds(business: Business, activities: list[Activity], closed_at: datetime,
                        ) -> float:
    """What behaviour adds to the log-odds of buying: time on site saturates, recency helps."""
    seconds = _time_on_site(activities)
    last = max((a.occurred_at for a in activities), default=closed_at - timedelta(days=60))
    recent = 0.6 if (closed_at - last) < timedelta(days=5) else 0.0
    time_effect = 1.6 * (1 - math.exp(-seconds / 900))  # non-linear: most of it by 30 min
    if business == "b2b_software":
        return time_effect + 1.2 * min(_count(activities, "demo_requested"), 1) \
            + 0.5 * min(_count(activities, "pricing_viewed"), 1) + recent
    if business == "consumer_subscription":
        visits = len({a.occurred_at.date() for a in activities if a.kind == "page_view"})
        return time_effect + 0.25 * min(visits, 5) + recent
    video = sum(a.number("video_seconds") or 0.0 for a in activities)
    return time_effect + 0.9 * min(_count(activities, "webinar_attended"), 1) \
        + 0.4 * min(_count(activities, "content_downloaded"), 2) + video / 1800 + recent


def _video_watched(rng: random.Random,
                   interest: float) -> Callable[[str], dict[str, float] | None]:
    """The numeric properties of an activity: minutes of a webinar's video watched."""
    def numbers(kind: str) -> dict[str, float] | None:
        if kind != "webinar_attended":
            return None
        return {"video_seconds": float(int(rng.uniform(0, 2400 * interest)))}
    return numbers


_MAKERS = {"b2b_software": (_b2b, -4.9), "consumer_subscription": (_consumer, -4.3),
           "education": (_education, -4.6)}


def generate(business: Business, leads: int, seed: int, now: datetime,
             ) -> list[GeneratedLead]:
    """`leads` closed leads of a kind of business, created within 90 days before `now`."""
    rng = random.Random(seed)
    maker, intercept = _MAKERS[business]
    out = []
    for i in range(leads):
        lead_id = uuid.UUID(int=rng.getrandbits(128))
        profile, consent, source, drivers, kinds, pages = maker(rng, i)
        person = _Person(interest=rng.betavariate(1.2, 2.5), drivers=drivers)
        created = now - timedelta(days=rng.uniform(20, 90))

        activities = _activities(rng, lead_id, created, person.interest, kinds, pages,
                                 _video_watched(rng, person.interest))
        closed = min(now, max(a.occurred_at for a in activities)
                     + timedelta(days=rng.uniform(0.5, 10)))
        activities = [a for a in activities if a.occurred_at <= closed]
        logit = intercept + person.drivers + _behaviour_log_odds(business, activities, closed)
        truth = 1 / (1 + math.exp(-logit))
        won = rng.random() < truth
        outcome = "won" if won else ("lost" if rng.random() < 0.3 else "not_converted")
        out.append(GeneratedLead(lead_id, profile, consent, source, created, activities,
                                 outcome, closed, truth))
    return out
