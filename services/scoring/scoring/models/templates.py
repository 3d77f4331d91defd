"""The scoring model templates and the default model.

Two templates are offered when a model is created (`POST /v1/models` with `template`): `b2b`,
for businesses selling to companies (fit from business email, title, company size), and `b2c`,
for consumer and education businesses (fit from consent and contact details; engagement
intensity does most of the work). Neither disqualifies a group of people for good: a student's
title lowers a B2B fit score, it does not end the lead; only the person's own withdrawn consent
to sales contact disqualifies.

The default model is version 3 (`b2b`), seeded by migration 0006. Versions 1 (migration 0001)
and 2 (0005, adding do-not-contact) disqualified every student for good. A stored version
never changes; improving the default means a new version (and migration), not an edit here. A
unit test checks that the migrations seed exactly these configurations.
"""

from scoring.rules.model_config import (
    FREE_MAIL_DOMAINS,
    BusinessEmail,
    ConsentWithdrawn,
    Decay,
    Disqualifier,
    EmailDomainIn,
    EngagementRule,
    FieldEquals,
    FieldMatches,
    FieldPresent,
    FitRule,
    GradeThreshold,
    IntensityBand,
    IntensityRule,
    MqlDefinition,
    NumberAtLeast,
    ScoringModelConfig,
)

# Word boundaries keep "Doctor" from matching cto and "Overhead" from matching head.
SENIOR_TITLE_PATTERN = (
    r"\b(vp|vice president|director|head|chief|cxo|ceo|cto|cmo|cfo|founder|owner|president)\b"
)
# ... and keep "Internal Audit" from being read as intern.
STUDENT_TITLE_PATTERN = r"\b(student|intern)\b"

DEFAULT_MODEL_VERSION = 3
DEFAULT_MODEL_NAME = "default"


def _repeatable(kind: str, points: int, cap: int) -> EngagementRule:
    """The rule that scores every `kind` activity, up to `cap` points in all."""
    return EngagementRule(id=f"engagement.{kind}", activity_kind=kind, points=points,
                          repeatable=True, cap=cap)


MODEL_V1_CONFIG = ScoringModelConfig(
    fit_rules=(
        FitRule(id="fit.business_email", points=15,
                when=BusinessEmail(free_mail_domains=FREE_MAIL_DOMAINS)),
        FitRule(id="fit.senior_title", points=25,
                when=FieldMatches(field="job_title", pattern=SENIOR_TITLE_PATTERN)),
        FitRule(id="fit.company_size_50", points=15,
                when=NumberAtLeast(field="company_size", minimum=50)),
        FitRule(id="fit.phone", points=5, when=FieldPresent(field="phone")),
    ),
    engagement_rules=(
        _repeatable("page_view", points=2, cap=20),
        EngagementRule(id="engagement.pricing_page", activity_kind="page_view",
                       url_contains="/pricing", points=15),
        _repeatable("form_submitted", points=10, cap=30),
        _repeatable("email_clicked", points=5, cap=25),
        _repeatable("email_opened", points=1, cap=5),
    ),
    disqualifiers=(
        Disqualifier(id="disqualify.student",
                     when=FieldMatches(field="job_title", pattern=STUDENT_TITLE_PATTERN)),
        # Empty by default: a deployment lists its competitors in a new model version.
        Disqualifier(id="disqualify.competitor", when=EmailDomainIn(domains=())),
    ),
    grades=(
        GradeThreshold(grade="A", min_fit=50),
        GradeThreshold(grade="B", min_fit=35),
        GradeThreshold(grade="C", min_fit=20),
    ),
    default_grade="D",
    mql=MqlDefinition(min_score=50, grades=("A", "B")),
    decay=Decay(half_life_days=30.0, window_days=365),
)

MODEL_V2_CONFIG = MODEL_V1_CONFIG.model_copy(update={"disqualifiers": (
    *MODEL_V1_CONFIG.disqualifiers,
    # Do-not-contact: the person withdrew consent to being contacted by sales.
    Disqualifier(id="disqualify.do_not_contact",
                 when=ConsentWithdrawn(purpose="sales_contact")),
)})


def _band(points: int, at_least: float | None = None,
          below: float | None = None) -> IntensityBand:
    return IntensityBand(at_least=at_least, below=below, points=points)


DO_NOT_CONTACT = Disqualifier(id="disqualify.do_not_contact",
                              when=ConsentWithdrawn(purpose="sales_contact"))

# Webinars and events: registering shows intent, attending shows more; both decay like every
# engagement rule. Every activity kind capture accepts scores something.
EVENT_RULES = (
    _repeatable("webinar_registered", points=10, cap=20),
    _repeatable("webinar_attended", points=20, cap=40),
    _repeatable("content_downloaded", points=5, cap=15),
    EngagementRule(id="engagement.pricing_viewed", activity_kind="pricing_viewed", points=15),
    EngagementRule(id="engagement.demo_requested", activity_kind="demo_requested", points=25),
    EngagementRule(id="engagement.call_requested", activity_kind="call_requested", points=20),
)

B2B_TEMPLATE = MODEL_V1_CONFIG.model_copy(update={
    "fit_rules": (
        *MODEL_V1_CONFIG.fit_rules,
        # Was a disqualifier for good in versions 1 and 2; a lower fit lets a student who
        # engages a lot (or turns out to buy) still be seen.
        FitRule(id="fit.student_title", points=-20,
                when=FieldMatches(field="job_title", pattern=STUDENT_TITLE_PATTERN)),
    ),
    "engagement_rules": (*MODEL_V1_CONFIG.engagement_rules, *EVENT_RULES),
    "intensity_rules": (
        IntensityRule(id="intensity.time_on_site", measure="time_on_site", window_days=30,
                      bands=(_band(5, 300, 1200), _band(10, 1200))),
        IntensityRule(id="intensity.recent_visit", measure="days_since_last", window_days=30,
                      activity_kind="page_view", bands=(_band(5, below=7),)),
    ),
    "disqualifiers": (
        # Empty by default: a deployment lists its competitors in a new model version.
        Disqualifier(id="disqualify.competitor", when=EmailDomainIn(domains=())),
        DO_NOT_CONTACT,
    ),
})
"""For businesses selling to companies: fit from business email, senior title, company size."""

B2C_TEMPLATE = ScoringModelConfig(
    fit_rules=(
        FitRule(id="fit.sales_contact_consent", points=15,
                when=FieldEquals(field="consent.sales_contact", value=True)),
        FitRule(id="fit.email_marketing_consent", points=10,
                when=FieldEquals(field="consent.email_marketing", value=True)),
        FitRule(id="fit.phone", points=10, when=FieldPresent(field="phone")),
        FitRule(id="fit.name_given", points=5, when=FieldPresent(field="first_name")),
    ),
    engagement_rules=(
        _repeatable("page_view", points=1, cap=10),
        EngagementRule(id="engagement.pricing_page", activity_kind="page_view",
                       url_contains="/pricing", points=10),
        _repeatable("form_submitted", points=10, cap=20),
        _repeatable("email_clicked", points=3, cap=15),
        _repeatable("email_opened", points=1, cap=5),
        *EVENT_RULES,
    ),
    intensity_rules=(
        IntensityRule(id="intensity.time_on_site", measure="time_on_site", window_days=30,
                      bands=(_band(5, 120, 600), _band(15, 600, 1800), _band(25, 1800))),
        IntensityRule(id="intensity.visits", measure="visits", window_days=30,
                      activity_kind="page_view", bands=(_band(5, 2, 4), _band(10, 4))),
        IntensityRule(id="intensity.recency", measure="days_since_last", window_days=30,
                      bands=(_band(10, below=3), _band(5, 3, 14))),
    ),
    disqualifiers=(DO_NOT_CONTACT,),
    grades=(
        GradeThreshold(grade="A", min_fit=25),
        GradeThreshold(grade="B", min_fit=15),
        GradeThreshold(grade="C", min_fit=5),
    ),
    default_grade="D",
    # A person who gave no way and no consent to be contacted (grade D) is not for sales.
    mql=MqlDefinition(min_score=45, grades=("A", "B", "C")),
    # Consumers decide in days, not quarters.
    decay=Decay(half_life_days=14.0, window_days=180),
)
"""For consumer and education businesses: fit from consent and contact details, engagement
intensity (time on site, visits, recency) and events (webinars, downloads, requests)."""

TEMPLATES: dict[str, tuple[ScoringModelConfig, str]] = {
    "b2b": (B2B_TEMPLATE, "Selling to companies: business email, senior title, company size, "
                          "engagement with decay, webinars and events (the default)."),
    "b2c": (B2C_TEMPLATE, "Consumers and education: consent and contact details, time on "
                          "site, visits, recency, webinars and events; students welcome."),
}
"""Every template by name, with what it is for."""

DEFAULT_MODEL_CONFIG = B2B_TEMPLATE
