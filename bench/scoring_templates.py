"""Bench P8: how well the scoring templates rank and predict the leads of three businesses.

    .venv/bin/python -m bench.scoring_templates [--leads 4000] [--seed 1]

Pure computation, no stack: for each kind of business (bench/business_leads.py) and each
template (b2b, the default; b2c), every lead is scored by the template's rules as of its
closing, and a learned model (the template plus LEARNING below) is trained as
`POST /v1/models/{v}/train` trains it: evaluated on a stratified held-out share, Brier score
beside the base rate's. The rules' own Brier score is that of their score mapped to a
probability by a logistic fit on the training share (Platt scaling); the AUC of the truth is
that of the generator's own probabilities, the ceiling any model can reach. Prints a Markdown
table (the README's Scoring models section quotes it).
"""

import argparse
from datetime import UTC, datetime

from bench.business_leads import BUSINESSES, GeneratedLead, generate
from scoring.learning.domain import Example, auc, brier, raw_features, stratified_split, train
from scoring.learning.features import LearningConfig
from scoring.models.templates import TEMPLATES
from scoring.rules.domain import ScoringModel, score_lead
from scoring.rules.lead_fields import LeadFields

NOW = datetime(2026, 12, 1, tzinfo=UTC)
LEARNING = LearningConfig.model_validate({"features": [
    {"kind": "categorical", "field": "source.utm_source"},
    {"kind": "categorical", "field": "consent.email_marketing"},
    {"kind": "categorical", "field": "job_title", "max_levels": 10},
    {"kind": "numeric", "field": "company_size"},
    {"kind": "engagement", "measure": "time_on_site", "window_days": 90},
    {"kind": "engagement", "measure": "visits", "activity_kind": "page_view",
     "window_days": 90},
    {"kind": "engagement", "measure": "days_since_last", "window_days": 90},
    {"kind": "engagement", "measure": "count", "activity_kind": "webinar_attended",
     "window_days": 90, "encoding": "linear"},
    {"kind": "engagement", "measure": "count", "activity_kind": "demo_requested",
     "window_days": 90, "encoding": "linear"},
    {"kind": "engagement", "measure": "count", "activity_kind": "content_downloaded",
     "window_days": 90, "encoding": "linear"},
    {"kind": "engagement", "measure": "sum", "attribute": "video_seconds", "window_days": 90},
], "min_outcomes": 50, "holdout_share": 0.3})


def examples(model: ScoringModel, leads: list[GeneratedLead]) -> list[Example]:
    """Each lead as a training example under a model, as of its closing."""
    out = []
    for lead in leads:
        assert lead.closed_at is not None
        fields = LeadFields(lead.profile, lead.consent, lead.source)
        rules = score_lead(model, lead.profile, lead.activities, lead.closed_at,
                           consent=lead.consent, source=lead.source).score
        out.append(Example(lead.lead_id, raw_features(LEARNING, fields, lead.activities,
                                                      lead.closed_at, 365),
                           lead.outcome == "won", rules, lead.outcome))
    return out


def rules_brier(fit_set: list[Example], test_set: list[Example]) -> float | None:
    """Brier score of the rules score mapped to a probability on the training share."""
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression().fit([[e.rules_score] for e in fit_set],
                                     [e.won for e in fit_set])
    predicted = platt.predict_proba([[e.rules_score] for e in test_set])[:, 1]
    return brier([e.won for e in test_set], [float(p) for p in predicted])


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("| business | template | win rate | AUC rules | Brier rules | AUC learned "
          "| Brier learned | Brier base rate | AUC of the truth |")
    print("|---|---|---|---|---|---|---|---|---|")
    for business in BUSINESSES:
        leads = generate(business, args.leads, args.seed, NOW)
        truth = {lead.lead_id: lead.truth for lead in leads}
        for name, (template, _) in TEMPLATES.items():
            config = template.model_copy(update={"learning": LEARNING})
            model = ScoringModel(1, config)
            data = examples(model, leads)
            fit_set, test_set = stratified_split(data, LEARNING.holdout_share)
            labels = [e.won for e in test_set]
            rules_auc = auc(labels, [float(e.rules_score) for e in test_set])
            evaluation = train(LEARNING, data)["evaluation"]
            print(f"| {business} | {name} | {sum(e.won for e in data) / len(data):.2f} "
                  f"| {rules_auc:.3f} | {rules_brier(fit_set, test_set):.3f} "
                  f"| {evaluation['auc_learned']:.3f} | {evaluation['brier_learned']:.3f} "
                  f"| {evaluation['brier_base_rate']:.3f} "
                  f"| {auc(labels, [truth[e.lead_id] for e in test_set]):.3f} |")


if __name__ == "__main__":
    main()
