"""The default scoring model: version 2, seeded by migration 0005 (version 1, seeded by 0001,
is the same without the do-not-contact disqualifier).

A stored version never changes; improving the default means a new version (and migration), not
an edit here. A unit test checks that the migrations seed exactly these configurations.
"""

from scoring.rules import (
    FREE_MAIL_DOMAINS,
    BusinessEmail,
    ConsentWithdrawn,
    Decay,
    Disqualifier,
    EmailDomainIn,
    EngagementRule,
    FieldMatches,
    FieldPresent,
    FitRule,
    GradeThreshold,
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

DEFAULT_MODEL_VERSION = 2
DEFAULT_MODEL_NAME = "default"

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
        EngagementRule(id="engagement.page_view", activity_kind="page_view", points=2,
                       repeatable=True, cap=20),
        EngagementRule(id="engagement.pricing_page", activity_kind="page_view",
                       url_contains="/pricing", points=15),
        EngagementRule(id="engagement.form_submitted", activity_kind="form_submitted",
                       points=10, repeatable=True, cap=30),
        EngagementRule(id="engagement.email_clicked", activity_kind="email_clicked", points=5,
                       repeatable=True, cap=25),
        EngagementRule(id="engagement.email_opened", activity_kind="email_opened", points=1,
                       repeatable=True, cap=5),
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

DEFAULT_MODEL_CONFIG = MODEL_V1_CONFIG.model_copy(update={"disqualifiers": (
    *MODEL_V1_CONFIG.disqualifiers,
    # Do-not-contact: the person withdrew consent to being contacted by sales.
    Disqualifier(id="disqualify.do_not_contact",
                 when=ConsentWithdrawn(purpose="sales_contact")),
)})
